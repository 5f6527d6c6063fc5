"""The worker's hot path: every stage runs as a batch step on one aiokafka consumer.

Why not Faust agents: Faust's per-message path costs ~170 µs to read a message, ~250 µs more to
send one and far more to set a table value, whatever its settings, and a restarted Faust worker
was seen to ack messages it had fetched before seeking to its committed offsets (a bed request
left undecided for ever). Here one consumer (the client Faust itself uses) fetches a batch from
every input topic, each stage folds its share in memory (its new states are kept in memory at
once, where the next batch's steps find them), and then, in this order:

1. the read model is written, one transaction per stage (streams/persist.py);
2. every output is sent and acknowledged (acks=all, idempotent producer), each partition's as one
   record batch;
3. every state change is sent to the stage's compacted changelog, once per key per batch;
4. the input offsets are committed.

While a batch goes through 1-4 the next batch is fetched and decided (the worker's CPU would
otherwise sit idle for a quarter of the time, waiting on SQLite and Kafka), and begins its own:
its read model is written after the batch before's, its outputs are sent at once (the producer
keeps each partition's order), and its changelog and offsets wait until the batch before has
finished. So states and offsets are written in the order the batches were decided, never more
than two batches are finishing, and one that fails stops the worker before a later batch
commits. A crash with two batches finishing redelivers both, as it would one.

A crash anywhere in between redelivers the batch, which each stage decides again from its state
before the batch: the same outputs with the same ids, which downstream keeps once (every step
is idempotent by event id). A crash after 2 and before 3 finds the state already moved on: the
steps recognise events they have applied and send their outputs again.

State lives in a local RocksDB (streams/runtime/store.py), a column family per stage and partition, and
its changelog partition is the input partition, so a worker that is given a partition reads that
partition's changelog and nothing else before it goes on (restoring reads ~200,000 records/s).
mode, the service runtime faust-streaming is built on, runs the process (streams/worker.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.partitioner import murmur2
from aiokafka.structs import ConsumerRecord

from streams.runtime.faults import Faults
from streams.runtime.stage import Batch, DeadLetters, Handed, Output, Stage
from streams.runtime.store import StateStore
from streams.runtime.tuning import Tuning

log = logging.getLogger("journeys.engine")


@dataclass(frozen=True, slots=True)
class Finishing:
    """A decided batch on its way: `written` once its read-model writes are made, `done` once it
    has finished (offsets committed), or failed."""

    written: asyncio.Future[None]
    done: asyncio.Future[None]


def key_hash(key: bytes) -> int:
    """The default partitioner's hash of a key (murmur2, as Kafka's clients compute it). aiokafka's
    is pure Python, ~5 µs a key: the engine caches it, so a person's key is hashed once, not once
    per output."""
    hashed: int = murmur2(key)
    return hashed & 0x7FFFFFFF


async def send_in_batches(producer: AIOKafkaProducer, outputs: Iterable[Output],
                          hash_key: Callable[[bytes], int] = key_hash) -> None:
    """Send outputs, in order, and wait until Kafka has them all: gathered into one record batch
    per partition (aiokafka's `send_batch`; one `send` each cost ~20 µs, as much as folding an
    event). Keyed outputs go where aiokafka's and Kafka's default partitioner would put them; one
    larger than a batch goes alone, after what was queued for its partition."""
    pending: list[asyncio.Future[Any]] = []
    building: dict[tuple[str, int], Any] = {}
    partitions: dict[str, list[int]] = {}
    for output in outputs:
        partition = output.partition
        if partition is None:
            if output.topic not in partitions:
                partitions[output.topic] = sorted(await producer.partitions_for(output.topic))
            every = partitions[output.topic]
            key = output.key
            partition = every[hash_key(key) % len(every)] if key is not None else random.choice(every)
        where = (output.topic, partition)
        builder = building.get(where)
        if builder is not None and builder.append(key=output.key, value=output.value, timestamp=None) is not None:
            continue
        if builder is not None:  # full: on its way, and a new one begun (never an empty one sent)
            pending.append(await producer.send_batch(building.pop(where), output.topic, partition=partition))
        builder = producer.create_batch()
        if builder.append(key=output.key, value=output.value, timestamp=None) is None:
            pending.append(await producer.send(output.topic, output.value, key=output.key, partition=partition))
        else:
            building[where] = builder
    for (topic, partition), builder in building.items():
        pending.append(await producer.send_batch(builder, topic, partition=partition))
    if pending:
        await asyncio.gather(*pending)


class EngineStopped(RuntimeError):
    """A send from outside a batch while the engine is not running."""


class Engine:
    """Runs stages on one consumer group; see the module docstring for the order of writes."""

    def __init__(self, *, bootstrap: str, group: str, stages: list[Stage], dead_letters: DeadLetters,
                 states: StateStore, tuning: Tuning | None = None, instance_id: str | None = None,
                 faults: Faults | None = None, connection: Mapping[str, Any] | None = None) -> None:
        tuning = tuning or Tuning()
        self.bootstrap = bootstrap
        # How every client of the engine connects (TLS, SASL): aiokafka's options, passed as given.
        self.connection = dict(connection or {})
        self.group = group
        self.stages = {stage.topic: stage for stage in stages}
        self.dead_letters = dead_letters
        self.tuning = tuning
        self.batch_size = tuning.batch_size
        self.session_timeout_ms = tuning.session_timeout_ms
        self.instance_id = instance_id
        self.faults = faults or Faults(None)
        self.states = states
        self.hash_key = lru_cache(maxsize=tuning.key_hashes)(key_hash)
        self.lock = asyncio.Lock()
        self.generation = 0
        self.ready = asyncio.Event()
        self.running = False  # between the producer's start and its stop
        self.stopping = asyncio.Event()  # set as the engine begins to stop
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None
        # In a burst identify runs further ahead of follow, which then decodes the rest.
        self.handed = Handed(room=tuning.handed_values)
        # The last decided batch's writes, sends and commit, under way while the next is decided.
        self.finishing: Finishing | None = None
        self.earlier: Finishing | None = None  # the one before it, which may still be finishing too

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
        tuning = self.tuning
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, **self.connection, acks="all", enable_idempotence=True,
            linger_ms=tuning.linger_ms,
            max_batch_size=tuning.producer_batch_bytes, max_request_size=tuning.producer_request_bytes,
        )
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, **self.connection, group_id=self.group,
            group_instance_id=self.instance_id,
            enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_uncommitted",
            session_timeout_ms=self.session_timeout_ms, heartbeat_interval_ms=max(self.session_timeout_ms // 4, 500),
            fetch_max_wait_ms=tuning.fetch_wait_ms, max_partition_fetch_bytes=tuning.fetch_partition_bytes,
            fetch_max_bytes=tuning.fetch_bytes, max_poll_interval_ms=tuning.max_poll_interval_ms,
        )
        await self.producer.start()
        self.running = True
        try:
            await self.consumer.start()
            try:
                self.consumer.subscribe(list(self.stages), listener=_Rebalance(self))
                await self._loop()
            finally:
                # A clean stop lets the batch in hand finish; what is not committed is redelivered.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.finished(), self.session_timeout_ms / 1000)
                self.stopping.set()
                await self.consumer.stop()
        finally:
            self.running = False
            self.stopping.set()
            await self.producer.stop()
            for stage in self.stages.values():
                stage.store.clear()
            self.states.close()

    async def _loop(self) -> None:
        assert self.consumer is not None
        while True:
            generation = self.generation
            fetched = await self._fetch()
            if self.finishing is not None and self.finishing.done.done():
                self.finishing.done.result()  # a batch that failed to finish stops the worker
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
                batches = await self._decide(fetched)
                if self.earlier is not None:
                    await self.earlier.done  # never more than two batches finishing
                self.earlier, self.finishing = self.finishing, self._start_finishing(fetched, batches, self.finishing)

    async def _fetch(self) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Up to a batch of records of the topics this worker's stages hand values to, then up to
        a batch of the rest. The consumer prefetches megabytes of every input and hands out what
        it holds in no useful order: identify was given batch after batch of intake while
        person-events waited, ran tens of thousands of events ahead of follow, and follow decoded
        a third of its events again because the values handed to it had been dropped unread.
        Drained first, the downstream topic keeps follow just behind identify (every value taken)."""
        assert self.consumer is not None
        consumer = self.consumer
        downstream = [tp for tp in consumer.assignment() if tp.topic in self.handed.topics]
        fetched = await consumer.getmany(*downstream, timeout_ms=0, max_records=self.batch_size) if downstream else {}
        more = await consumer.getmany(timeout_ms=0 if fetched else 1000, max_records=self.batch_size)
        for tp, records in more.items():
            fetched.setdefault(tp, []).extend(records)  # a partition's records go on where they stopped
        return fetched

    async def _decide(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> list[Batch]:
        """Run each stage's step on its share of the fetch and keep the states it changed in
        memory, where the next batch's steps find them."""
        by_stage: dict[str, list[ConsumerRecord]] = defaultdict(list)
        for tp, records in fetched.items():
            by_stage[tp.topic].extend(records)
        batches = [Batch(self.stages[topic], records, self.dead_letters, self.handed)
                   for topic, records in by_stage.items()]
        await asyncio.gather(*(batch.stage.step(batch) for batch in batches))
        for batch in batches:
            batch.write_kept()
        return batches

    def _start_finishing(self, fetched: dict[TopicPartition, list[ConsumerRecord]], batches: list[Batch],
                         before: Finishing | None) -> Finishing:
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        return Finishing(written, asyncio.ensure_future(self._finish(fetched, batches, before, written)))

    async def _finish(self, fetched: dict[TopicPartition, list[ConsumerRecord]], batches: list[Batch],
                      before: Finishing | None, written: asyncio.Future[None]) -> None:
        """A decided batch's writes, in the order of the module docstring. The read model is
        written after the batch before's writes, and the outputs are sent at once (the producer
        keeps each partition's order); the changelog and the offsets wait until the batch before
        has finished, so they are written in the order the batches were decided, and a batch
        that failed fails every batch after it."""
        assert self.consumer is not None
        try:
            if before is not None:
                await before.written
            for batch in batches:
                # Taken off the batch: a write refers to its batch (to dead-letter refused rows), and
                # left on it, every batch would live until a full collection of the garbage collector.
                writes, batch.writes = batch.writes, []
                for write in writes:
                    await write()
        except BaseException as error:
            written.set_exception(error if isinstance(error, Exception) else RuntimeError("stopped while writing"))
            raise
        written.set_result(None)
        await self._send(output for batch in batches for output in batch.outputs)
        await self.faults.at("after-outputs")
        if before is not None:
            await before.done
        await self._send(
            Output(batch.stage.changelog, key, value, partition)
            for batch in batches if batch.stage.changelog
            for (partition, key), value in batch.changed.items()
        )
        await self.faults.at("after-state")
        await self.consumer.commit({tp: records[-1].offset + 1 for tp, records in fetched.items()})

    async def finished(self) -> None:
        """Wait until every decided batch has finished (or failed: the loop stops on that)."""
        if self.finishing is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.finishing.done)  # which waits for the one before it

    async def _send(self, outputs: Iterable[Output]) -> None:
        """Send every output and wait until Kafka has them all; a failure stops the worker (the
        batch is redelivered to whoever takes over), never skips an output."""
        assert self.producer is not None
        await send_in_batches(self.producer, outputs, self.hash_key)

    async def restore(self, assigned: set[TopicPartition]) -> None:
        """Read the changelog partitions of the partitions just given to this worker."""
        started, count = time.monotonic(), 0
        wanted = [TopicPartition(stage.changelog, tp.partition)
                  for tp in assigned if (stage := self.stages.get(tp.topic)) and stage.changelog]
        for stage in self.stages.values():
            stage.cache.clear()
        for tp in assigned:
            if stage := self.stages.get(tp.topic):
                stage.store[tp.partition] = self.states.fresh(stage.name, tp.partition)
        if wanted:
            owner = {stage.changelog: stage for stage in self.stages.values() if stage.changelog}
            reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, **self.connection, enable_auto_commit=False,
                                      fetch_max_bytes=self.tuning.restore_fetch_bytes,
                                      max_partition_fetch_bytes=self.tuning.restore_partition_bytes)
            await reader.start()
            try:
                reader.assign(wanted)
                await reader.seek_to_beginning(*wanted)
                end = await reader.end_offsets(wanted)
                remaining = {tp for tp in wanted if end[tp] > 0}
                while remaining:
                    for tp, records in (await reader.getmany(*remaining, timeout_ms=1000)).items():
                        # The newest record of each key, in one write (None deletes the key).
                        owner[tp.topic].store[tp.partition].write({record.key: record.value for record in records})
                        count += len(records)
                    # Done when the position reached the end: compaction leaves gaps in the
                    # offsets, so the last record read need not sit just before the end.
                    remaining = {tp for tp in remaining if await reader.position(tp) < end[tp]}
            finally:
                await reader.stop()
        log.info("partitions assigned: %d; restored %d state records in %.2fs",
                 len(assigned), count, time.monotonic() - started)
        self.ready.set()


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka has no types
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # Wait for the batch in hand to be decided, and every decided one to finish and commit: no
        # worker ever writes the state of a partition it no longer holds.
        async with self.engine.lock:
            await self.engine.finished()
            self.engine.generation += 1
            for stage in self.engine.stages.values():
                stage.cache.clear()
            for tp in revoked:
                if held := self.engine.stages.get(tp.topic):
                    held.store.pop(tp.partition, None)
                    self.engine.states.drop(held.name, tp.partition)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        async with self.engine.lock:
            self.engine.generation += 1
            await self.engine.restore(set(assigned))
