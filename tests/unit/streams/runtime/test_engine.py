"""A timer's send from outside a batch, when the engine stops under it: it must give way
(EngineStopped), not wait for ever for an acknowledgement a stopped producer will never give.
The producer here is a stand-in that never acknowledges: the coordination is what is tested."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from journey.reports import Routing
from streams.runtime import DeadLetters, Engine, EngineStopped, Output, StateStore, Tuning


class Builder(list):
    """A record batch being filled: room for two records, to show what a full one does; a value
    of 100 bytes or more never fits."""

    def append(self, *, key: bytes | None, value: bytes, timestamp: None) -> bool | None:  # type: ignore[override]
        if len(self) == 2 or len(value) >= 100:
            return None
        super().append((key, value))
        return True


class NeverAcknowledges:
    """A producer whose sends are taken and never acknowledged (as one that was stopped)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.batches: list[tuple[str, int, list[tuple[bytes | None, bytes]]]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {3, 0, 2, 1}

    def create_batch(self) -> Builder:
        return Builder()

    async def send(self, topic: str, value: bytes, *, key: bytes | None, partition: int) -> asyncio.Future[None]:
        self.sent.append((topic, value))
        self.batches.append((topic, partition, [(key, value)]))  # a batch of its own
        return asyncio.get_running_loop().create_future()

    async def send_batch(self, batch: Builder, topic: str, *, partition: int) -> asyncio.Future[None]:
        assert batch, "an empty record batch was sent"
        self.sent.extend((topic, value) for _key, value in batch)
        self.batches.append((topic, partition, list(batch)))
        return asyncio.get_running_loop().create_future()


def engine(tmp_path: Path) -> Engine:
    return Engine(bootstrap="127.0.0.1:9", group="g", stages=[], dead_letters=DeadLetters("dead", lambda r, why: b""),
                  states=StateStore(tmp_path, cache_mib=8, write_buffer_mib=8), tuning=Tuning(batch_size=1))


def test_a_send_under_way_gives_way_when_the_engine_stops(tmp_path: Path) -> None:
    async def run() -> None:
        stream, producer = engine(tmp_path), NeverAcknowledges()
        stream.producer, stream.running = producer, True  # type: ignore[assignment]
        sending = asyncio.create_task(stream.send_all("audit", [(b"k", b"v")]))
        await asyncio.sleep(0.05)
        assert not sending.done() and producer.sent == [("audit", b"v")]  # waiting for Kafka
        stream.stopping.set()
        with pytest.raises(EngineStopped):
            await asyncio.wait_for(sending, 1)

    asyncio.run(run())


def test_a_send_after_the_engine_stopped_is_refused_at_once(tmp_path: Path) -> None:
    async def run() -> None:
        stream = engine(tmp_path)
        stream.producer = NeverAcknowledges()  # type: ignore[assignment]
        with pytest.raises(EngineStopped):
            await stream.send_all("audit", [(b"k", b"v")])
        assert stream.producer.sent == []  # type: ignore[attr-defined]

    asyncio.run(run())


def test_outputs_go_in_order_in_one_batch_per_partition_where_the_default_partitioner_puts_them(tmp_path: Path) -> None:
    keys = [f"person-{n}".encode() for n in range(40)]

    async def run() -> NeverAcknowledges:
        stream, producer = engine(tmp_path), NeverAcknowledges()
        stream.producer = producer  # type: ignore[assignment]
        outputs = [Output("updates", key, b"%d" % n) for n, key in enumerate(keys)]
        big = [Output("changelog", b"k", b"x" * 100, partition=1), Output("changelog", b"k", b"1", partition=1),
               Output("changelog", b"k", b"y" * 100, partition=1)]  # too big for a batch: first, then after one
        sending = asyncio.create_task(stream._send([*outputs, Output("changelog", b"k", b"kept", partition=2), *big]))
        await asyncio.sleep(0.05)
        sending.cancel()
        return producer

    producer = asyncio.run(run())
    where = {key: DefaultPartitioner()(key, [0, 1, 2, 3], [0, 1, 2, 3]) for key in keys}
    for partition in range(4):
        sent = [key for topic, p, batch in producer.batches if (topic, p) == ("updates", partition)
                for key, _value in batch]
        assert sent == [key for key in keys if where[key] == partition]  # in order, all of them, nowhere else
    assert ("changelog", 2, [(b"k", b"kept")]) in producer.batches  # a partition given is kept
    assert [batch for topic, p, batch in producer.batches if (topic, p) == ("changelog", 1)] == [
        [(b"k", b"x" * 100)], [(b"k", b"1")], [(b"k", b"y" * 100)]]  # in order, the big ones alone
    assert len(producer.batches) > 5  # full batches were sent and new ones begun


def test_an_event_identify_hands_on_is_the_one_its_bytes_decode_to() -> None:
    """The follow stage takes what identify hands on instead of decoding the bytes: for every
    family the scenario sends, and the routing of its reports, the two must be equal, whether
    identify sends the bytes it was given (the event named its person) or encodes them anew."""
    from datetime import UTC, datetime
    from uuid import uuid4
    from zoneinfo import ZoneInfo

    from deploy.scenario import generate, intake_records
    from journey.identity import resolve_person
    from schemas.events import decode_event
    from schemas.settings import Settings
    from streams.identify import person_events_of

    zone = ZoneInfo("Europe/London")
    # Twelve weeks ending yesterday, whatever today is: intake refuses events in the future.
    story = generate(datetime.now(zone).date(), zone, people=60, seed=3)
    records, _ = intake_records(story, datetime.now(UTC))
    families, passed_on, encoded = set(), 0, 0
    for _key, value in records:
        accepted = decode_event(value)
        # As resolved, and as merged into someone else (a person id the event does not name).
        for person_id in (resolve_person(accepted.subject, accepted.id), uuid4()):
            sent = person_events_of(accepted, value, person_id, Routing.configured(Settings()))
            for handed, sent_value in sent:
                assert decode_event(sent_value) == handed
                assert handed.subject == person_id
                families.add(handed.type.split(".")[0])
            passed_on += sent[0][1] is value
            encoded += sent[0][1] is not value
    assert families >= {"report", "contact", "case", "accommodation"}
    assert passed_on and encoded  # both ways were taken


def test_values_handed_on_are_taken_once_and_the_oldest_give_way() -> None:
    from streams.runtime.stage import Handed

    handed = Handed(room=2)
    for n in range(3):
        handed.keep(b"v%d" % n, n)
    assert handed.take(b"v0") is None  # gave way to the newer two
    assert (handed.take(b"v1"), handed.take(b"v1"), handed.take(b"v2")) == (1, None, 2)
    assert Handed(room=0).take(b"v") is None


class Prefetched:
    """A consumer holding prefetched records, handed out as aiokafka does: from the partitions
    asked for (all, if none), in the order they were fetched, at most `max_records`."""

    def __init__(self, held: dict[TopicPartition, list[int]]) -> None:
        self.held = held
        self.asked: list[tuple[tuple[TopicPartition, ...], int]] = []

    def assignment(self) -> set[TopicPartition]:
        return set(self.held)

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int,
                      max_records: int) -> dict[TopicPartition, list[int]]:
        self.asked.append((partitions, timeout_ms))
        given: dict[TopicPartition, list[int]] = {}
        for tp in [tp for tp in self.held if not partitions or tp in partitions]:
            room = max_records - sum(len(records) for records in given.values())
            if room and self.held[tp]:
                given[tp], self.held[tp] = self.held[tp][:room], self.held[tp][room:]
        return given


def test_a_batch_takes_what_the_worker_handed_on_before_more_of_what_feeds_it(tmp_path: Path) -> None:
    """Identify must not run far ahead of follow (follow would decode what it was handed, once
    the handed values gave way): the records of topics values were handed to come first, up to a
    batch, then up to a batch of the rest, in each partition's order."""
    intake, person_events = TopicPartition("intake", 0), TopicPartition("person-events", 0)
    run = engine(tmp_path)
    run.batch_size = 3
    run.consumer = Prefetched({intake: list(range(100, 110)), person_events: [1, 2]})  # type: ignore[assignment]
    run.handed.topics.add("person-events")

    fetched = asyncio.run(run._fetch())
    assert fetched == {person_events: [1, 2], intake: [100, 101, 102]}
    assert run.consumer.asked[0] == ((person_events,), 0)  # type: ignore[attr-defined]  # without waiting
    fetched = asyncio.run(run._fetch())
    assert fetched == {intake: [103, 104, 105]}
    run.handed.topics.clear()  # nothing handed on: as the consumer gives them
    run.consumer.held[person_events] = [3, 4]  # type: ignore[attr-defined]
    assert asyncio.run(run._fetch()) == {intake: [106, 107, 108]}
