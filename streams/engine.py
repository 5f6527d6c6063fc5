"""The worker's hot path: every stage runs as a batch step on one aiokafka consumer.

Why not Faust agents: Faust's per-message path costs ~170 µs to read a message, ~250 µs more to
send one and far more to set a table value, whatever its settings, and a restarted Faust worker
was seen to ack messages it had fetched before seeking to its committed offsets (a bed request
left undecided for ever). Here one consumer (the client Faust itself uses) fetches a batch from
every input topic, each stage folds its share in memory, and then, in this order:

1. every output is sent and acknowledged (acks=all, idempotent producer);
2. every state change is sent to the stage's compacted changelog, once per key per batch;
3. the input offsets are committed.

A crash anywhere in between redelivers the batch, which each stage decides again from its state
before the batch: the same outputs with the same ids, which downstream keeps once (every step
is idempotent by event id). A crash after 2 and before 3 finds the state already moved on: the
steps recognise events they have applied and send their outputs again.

State lives in memory, a dict per partition, and its changelog partition is the input
partition, so a worker that is given a partition reads that partition's changelog and nothing
else before it goes on (restoring reads ~200,000 records/s). mode, the service runtime
faust-streaming is built on, runs the process (streams/app.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from schemas.updates import DeadLetter
from streams.faults import Faults

log = logging.getLogger("journeys.engine")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Output:
    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None


@dataclass(slots=True)
class Batch:
    """One stage's share of a fetch, its state, and what it decides to send."""

    stage: Stage
    records: list[ConsumerRecord]
    dead_letter_topic: str
    outputs: list[Output] = field(default_factory=list)
    changed: dict[tuple[int, bytes], bytes | None] = field(default_factory=dict)
    states: dict[tuple[int, bytes], BaseModel | None] = field(default_factory=dict)
    kept: set[tuple[int, bytes]] = field(default_factory=set)

    def load(self, partition: int, key: bytes, model: type[M]) -> M | None:
        """A key's state, decoded once per batch (or taken from the stage's decoded cache); after
        `keep`, what was kept."""
        where = (partition, key)
        if where not in self.states:
            state = self.stage.cache.pop(where, None)
            if state is None and (stored := self.stage.store[partition].get(key)) is not None:
                state = model.model_validate_json(stored)
            self.states[where] = state
        return self.states[where]  # type: ignore[return-value]

    def keep(self, partition: int, key: bytes, state: BaseModel | None) -> None:
        """A key's new state (None deletes it): written once at the end of the step, to the store
        and, with the batch's other writes, to the changelog."""
        self.states[(partition, key)] = state
        self.kept.add((partition, key))

    def write_kept(self) -> None:
        for where in self.kept:
            state = self.states[where]
            partition, key = where
            store = self.stage.store[partition]
            if state is None:
                store.pop(key, None)
            else:
                store[key] = state.model_dump_json().encode()
            self.changed[where] = store.get(key)
        cache, room = self.stage.cache, self.stage.keep_decoded
        if room:
            for where, state in self.states.items():
                if state is not None:
                    cache[where] = state
            while len(cache) > room:
                del cache[next(iter(cache))]  # the least lately seen

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.outputs.append(Output(topic, key, value))

    def dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        """Keep the whole message with the reason; log where it came from, never what it said."""
        letter = DeadLetter(
            reason=reason, topic=record.topic, partition=record.partition, offset=record.offset,
            key=record.key.decode(errors="replace") if record.key else None, payload=record.value or b"",
        )
        self.send(self.dead_letter_topic, record.key, letter.model_dump_json().encode())
        log.warning("dead-lettered topic=%s partition=%d offset=%d reason=%s",
                    record.topic, record.partition, record.offset, reason)

    def decoded(self, decode: Callable[[bytes], Any],
                undecodable: type[Exception]) -> Iterator[tuple[ConsumerRecord, Any]]:
        """Each record with its decoded value; those that do not decode are dead-lettered."""
        for record in self.records:
            try:
                value = decode(record.value)
            except undecodable as error:
                self.dead_letter(record, f"undecodable: {error}")
                continue
            yield record, value


Step = Callable[[Batch], Awaitable[None]]


@dataclass(slots=True)
class Stage:
    """A named step fed by one topic; `changelog` names the compacted topic of its state."""

    name: str
    topic: str
    step: Step
    changelog: str | None = None
    # How many keys' decoded states to keep beside their JSON from one batch to the next (worth
    # it where decoding costs more than the step; each costs the garbage collector).
    keep_decoded: int = 0
    store: dict[int, dict[bytes, bytes]] = field(default_factory=lambda: defaultdict(dict))
    # The decoded states kept; emptied whenever partitions move.
    cache: dict[tuple[int, bytes], BaseModel] = field(default_factory=dict)

    def values(self) -> Iterable[tuple[bytes, bytes]]:
        """Every key's state in the partitions this worker holds now."""
        for partition in list(self.store):
            yield from list(self.store[partition].items())


class EngineStopped(RuntimeError):
    """A send from outside a batch while the engine is not running."""


class Engine:
    """Runs stages on one consumer group; see the module docstring for the order of writes."""

    def __init__(self, *, bootstrap: str, group: str, stages: list[Stage], dead_letter_topic: str,
                 batch_size: int, fetch_wait_ms: int, session_timeout_s: float, instance_id: str | None,
                 faults: Faults, linger_ms: int) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.stages = {stage.topic: stage for stage in stages}
        self.dead_letter_topic = dead_letter_topic
        self.batch_size = batch_size
        self.fetch_wait_ms = fetch_wait_ms
        self.session_timeout_ms = int(session_timeout_s * 1000)
        self.instance_id = instance_id
        self.faults = faults
        self.linger_ms = linger_ms
        self.lock = asyncio.Lock()
        self.generation = 0
        self.ready = asyncio.Event()
        self.running = False  # between the producer's start and its stop
        self.stopping = asyncio.Event()  # set as the engine begins to stop
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None

    def stage(self, name: str) -> Stage:
        return next(stage for stage in self.stages.values() if stage.name == name)

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        """Send one message from outside a batch (a timer) and wait for Kafka to have it."""
        await self.send_all(topic, [(key, value)])

    async def send_all(self, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
        """Send messages from outside a batch (a timer), in order, and wait for Kafka to have them all."""
        if not self.running:
            # A stopped producer's send waits for metadata for ever: a timer that fires while the
            # worker stops must fail instead, and its work is done by the next worker.
            raise EngineStopped("the engine is not running")
        # A send already under way when the engine stops would wait for ever too (the audit relay's
        # did, and held a stopping worker until it was killed 30 s later): it gives way instead.
        sending = asyncio.ensure_future(self._send(Output(topic, key, value) for key, value in messages))
        stopping = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({sending, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not sending.done():
            sending.cancel()
            raise EngineStopped("the engine stopped while sending")
        sending.result()

    async def run(self) -> None:
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True, linger_ms=self.linger_ms,
            max_batch_size=512 * 1024, max_request_size=8 * 1024 * 1024,
        )
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group, group_instance_id=self.instance_id,
            enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_uncommitted",
            session_timeout_ms=self.session_timeout_ms, heartbeat_interval_ms=max(self.session_timeout_ms // 4, 500),
            fetch_max_wait_ms=self.fetch_wait_ms, max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=32 * 1024 * 1024, max_poll_interval_ms=300_000,
        )
        await self.producer.start()
        self.running = True
        try:
            await self.consumer.start()
            try:
                self.consumer.subscribe(list(self.stages), listener=_Rebalance(self))
                await self._loop()
            finally:
                self.stopping.set()
                await self.consumer.stop()
        finally:
            self.running = False
            self.stopping.set()
            await self.producer.stop()

    async def _loop(self) -> None:
        assert self.consumer is not None
        while True:
            generation = self.generation
            fetched = await self.consumer.getmany(timeout_ms=1000, max_records=self.batch_size)
            if not fetched:
                continue
            async with self.lock:
                if generation != self.generation:
                    # Partitions moved while this fetch was made: its records may now belong to
                    # another worker. Those of partitions still held are fetched again (the
                    # position has passed them; dropping them without the seek would lose them).
                    held = self.consumer.assignment()
                    for tp, records in fetched.items():
                        if tp in held:
                            self.consumer.seek(tp, records[0].offset)
                    continue
                await self._process(fetched)

    async def _process(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        assert self.producer is not None and self.consumer is not None
        by_stage: dict[str, list[ConsumerRecord]] = defaultdict(list)
        for tp, records in fetched.items():
            by_stage[tp.topic].extend(records)
        batches = [Batch(self.stages[topic], records, self.dead_letter_topic) for topic, records in by_stage.items()]
        # Stages are independent within a batch: a step waiting for the database lets the others run.
        await asyncio.gather(*(batch.stage.step(batch) for batch in batches))
        for batch in batches:
            batch.write_kept()
        await self._send(output for batch in batches for output in batch.outputs)
        await self.faults.at("after-outputs")
        await self._send(
            Output(batch.stage.changelog, key, value, partition)
            for batch in batches if batch.stage.changelog
            for (partition, key), value in batch.changed.items()
        )
        await self.faults.at("after-state")
        await self.consumer.commit({tp: records[-1].offset + 1 for tp, records in fetched.items()})

    async def _send(self, outputs: Iterable[Output]) -> None:
        """Send every output and wait until Kafka has them all; a failure stops the worker (the
        batch is redelivered to whoever takes over), never skips an output."""
        assert self.producer is not None
        pending = [await self.producer.send(o.topic, o.value, key=o.key, partition=o.partition) for o in outputs]
        if pending:
            await asyncio.gather(*pending)

    async def restore(self, assigned: set[TopicPartition]) -> None:
        """Read the changelog partitions of the partitions just given to this worker."""
        started, count = time.monotonic(), 0
        wanted = [TopicPartition(stage.changelog, tp.partition)
                  for tp in assigned if (stage := self.stages.get(tp.topic)) and stage.changelog]
        for stage in self.stages.values():
            stage.cache.clear()
        for tp in assigned:
            if tp.topic in self.stages:
                self.stages[tp.topic].store[tp.partition] = {}
        if wanted:
            owner = {stage.changelog: stage for stage in self.stages.values() if stage.changelog}
            reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                      fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024)
            await reader.start()
            try:
                reader.assign(wanted)
                await reader.seek_to_beginning(*wanted)
                end = await reader.end_offsets(wanted)
                remaining = {tp for tp in wanted if end[tp] > 0}
                while remaining:
                    for tp, records in (await reader.getmany(*remaining, timeout_ms=1000)).items():
                        store = owner[tp.topic].store[tp.partition]
                        for record in records:
                            if record.value is None:
                                store.pop(record.key, None)
                            else:
                                store[record.key] = record.value
                        count += len(records)
                    # Done when the position reached the end: compaction leaves gaps in the
                    # offsets, so the last record read need not sit just before the end.
                    remaining = {tp for tp in remaining if await reader.position(tp) < end[tp]}
            finally:
                await reader.stop()
        log.info("partitions assigned: %d; restored %d state records in %.2fs",
                 len(assigned), count, time.monotonic() - started)
        self.ready.set()


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # Wait for the batch in hand to finish and commit: no worker ever writes the state of a
        # partition it no longer holds.
        async with self.engine.lock:
            self.engine.generation += 1
            for stage in self.engine.stages.values():
                stage.cache.clear()
            for tp in revoked:
                if stage := self.engine.stages.get(tp.topic):
                    stage.store.pop(tp.partition, None)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        async with self.engine.lock:
            self.engine.generation += 1
            await self.engine.restore(set(assigned))
