"""judge-identity alone: decisions in one order, both halves of an accepted one sent to intake,
every verdict written, a decision under another key dead-lettered."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial

from schemas.events import decode_event, encode_event
from schemas.ids import other_half_id
from schemas.topics import IDENTITY_KEY
from streams.judge_identity import judge_identity
from tests.events import identity
from tests.unit.streams.batches import Run, sent


def run() -> Run:
    return Run("identity-decisions", partial(judge_identity, intake="intake", read_model=None))


def verdicts(batch) -> list[tuple[str, str | None]]:
    return [(row["status"], row["reason"]) for write in batch.writes for _record, row in write.items]


def test_an_accepted_merge_sends_both_halves_and_a_chain_is_refused() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    merge = identity(a, b, "merged")
    batch = asyncio.run(run().batch([(IDENTITY_KEY, encode_event(merge)), (IDENTITY_KEY, encode_event(
        identity(b, c, "merged")))]))
    halves = [decode_event(value) for _key, value in sent(batch, "intake")]
    assert [(h.type, h.subject, h.data.other) for h in halves] == [
        ("identity.merged", a, b), ("identity.absorbed", b, a)]
    assert halves[1].id == other_half_id(merge.id)
    assert [status for status, _reason in verdicts(batch)] == ["accepted", "refused"]


def test_a_decision_under_another_key_is_dead_lettered_and_decides_nothing() -> None:
    batch = asyncio.run(run().batch([(b"someone", encode_event(identity(uuid.uuid4(), uuid.uuid4(), "merged")))]))
    assert sent(batch, "intake") == [] and batch.writes == [] and batch.kept == set()
    assert [why for _record, why in batch.dead] == ["rejected: not an identity decision under the decisions key"]
