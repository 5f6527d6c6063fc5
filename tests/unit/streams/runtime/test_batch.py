"""The runtime's batch contract without a broker: states loaded once and kept to the store and
the changelog once per key, the decoded cache, dead letters, and values handed on between stages."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from streams.runtime import Batch, MemoryState, Stage
from streams.runtime.stage import Handed
from tests.unit.streams.batches import DEAD, record


class Count(BaseModel):
    n: int


def test_a_kept_state_is_written_once_to_the_store_and_the_changelog_and_a_none_deletes_it() -> None:
    stage = Stage("count", "in", lambda batch: asyncio.sleep(0), keep_decoded=0)
    stage.store = {0: MemoryState({b"gone": b'{"n":9}'})}
    batch = Batch(stage, [], DEAD)
    for n in range(3):  # kept three times in one step: written once, the last
        batch.keep(0, b"a", Count(n=n))
    assert batch.load(0, b"a", Count) == Count(n=2)
    batch.keep(0, b"gone", None)
    batch.write_kept()
    assert stage.store[0].states == {b"a": b'{"n":2}'}
    assert batch.changed == {(0, b"a"): b'{"n":2}', (0, b"gone"): None}
    assert Batch(stage, [], DEAD).load(0, b"a", Count) == Count(n=2)  # the next batch decodes it from the store


def test_the_decoded_cache_keeps_the_last_seen_states_and_gives_each_once() -> None:
    stage = Stage("count", "in", lambda batch: asyncio.sleep(0), keep_decoded=1)
    stage.store = {0: MemoryState()}
    first = Batch(stage, [], DEAD)
    first.keep(0, b"a", Count(n=1))
    first.keep(0, b"b", Count(n=2))
    first.write_kept()
    assert list(stage.cache) == [(0, b"b")]  # room for one: the last seen
    second = Batch(stage, [], DEAD)
    kept = second.load(0, b"b", Count)
    assert kept is not None and kept.n == 2 and (0, b"b") not in stage.cache  # taken, not decoded again


def test_an_undecodable_record_is_dead_lettered_whole_and_the_rest_go_on() -> None:
    stage = Stage("count", "in", lambda batch: asyncio.sleep(0))
    good, bad = record("in", b"k", b'{"n":1}', offset=1), record("in", b"k", b"not json", offset=2)
    batch = Batch(stage, [bad, good], DEAD)
    decoded = list(batch.decoded(Count.model_validate_json, ValueError))
    assert decoded == [(good, Count(n=1))]
    assert [(r.offset, why.split(":")[0]) for r, why in batch.dead] == [(2, "undecodable")]
    assert [(o.topic, o.key) for o in batch.outputs] == [("dead-letter", b"k")]


def test_a_value_handed_on_is_taken_by_the_reading_stage_instead_of_decoding_it() -> None:
    handed = Handed(room=10)
    sender = Batch(Stage("a", "in", lambda batch: asyncio.sleep(0)), [], DEAD, handed)
    sender.send("next", b"k", b'{"n":5}', decoded=Count(n=5))
    assert handed.topics == {"next"}

    def never(value: bytes) -> Count:
        raise AssertionError("decoded again")

    reader = Batch(Stage("b", "next", lambda batch: asyncio.sleep(0)), [record("next", b"k", b'{"n":5}')], DEAD,
                   handed)
    assert [value for _r, value in reader.decoded(never, ValueError)] == [Count(n=5)]
    assert handed.values == {}  # taken once
