"""The live stream's fan-out in each API process: one Kafka reader of journey-updates, recent
updates kept for clients that reconnect, and a bounded queue per client.

An event's id is a cursor: the position reached in every partition when it was read, e.g.
"812.790.851.803". A client that reconnects with it as Last-Event-ID gets every update after it
that is still kept (STREAM_KEEP recent updates; a restarted API process reads that many back);
one that fell further behind gets a `reset` event first, so that it reloads what it shows.

A client whose queue is full (it reads slower than updates come) is dropped with a `dropped`
event; the others never wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from journey.delivery import Update, read_update

log = logging.getLogger("journeys.stream")


@dataclass(frozen=True, slots=True)
class Item:
    cursor: str
    partition: int
    offset: int
    update: Update


def parse_cursor(text: str | None, partitions: int) -> dict[int, int] | None:
    """A Last-Event-ID as positions per partition; None if absent or not one of ours."""
    if not text:
        return None
    parts = text.split(".")
    if len(parts) != partitions or not all(p.isdigit() and len(p) <= 19 for p in parts):
        return None
    return {p: int(o) for p, o in enumerate(parts)}


@dataclass(eq=False)
class Client:
    limit: int
    queue: asyncio.Queue[Item] = field(init=False)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)
    reset: bool = False  # it asked to resume from further back than is kept

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.limit)

    def offer(self, item: Item) -> bool:
        try:
            self.queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            self.dropped.set()
            return False


class Fanout:
    """Recent updates and the clients listening; fed by a Broadcaster (or a test) in order."""

    def __init__(self, partitions: int, keep: int, client_limit: int) -> None:
        self.partitions = partitions
        self.recent: deque[Item] = deque(maxlen=keep)
        self.position = dict.fromkeys(range(partitions), 0)
        self.floor = dict.fromkeys(range(partitions), 0)  # from here on, recent holds every update
        self.client_limit = client_limit
        self.clients: set[Client] = set()

    def cursor(self) -> str:
        return ".".join(str(self.position[p]) for p in range(self.partitions))

    def publish(self, partition: int, offset: int, update: Update) -> None:
        self.position[partition] = offset + 1
        if len(self.recent) == self.recent.maxlen:
            gone = self.recent[0]
            self.floor[gone.partition] = gone.offset + 1
        item = Item(self.cursor(), partition, offset, update)
        self.recent.append(item)
        for client in list(self.clients):
            if not client.offer(item):
                self.clients.discard(client)
                log.warning("a live-stream client fell %d updates behind and was dropped", client.limit)

    def join(self, resume_from: dict[int, int] | None) -> Client:
        client = Client(self.client_limit)
        if resume_from is not None:
            missed = [item for item in self.recent if item.offset >= resume_from.get(item.partition, 0)]
            if any(resume_from[p] < self.floor[p] for p in range(self.partitions)) or len(missed) > client.limit:
                client.reset = True  # too far behind: it reloads, then takes the live updates
            else:
                for item in missed:
                    client.offer(item)
        self.clients.add(client)
        return client

    def leave(self, client: Client) -> None:
        self.clients.discard(client)


class Broadcaster:
    """Reads journey-updates from a little before the end and publishes each to the fan-out."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, keep: int, client_limit: int, *,
                 connection: Mapping[str, Any] | None = None) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.connection = dict(connection or {})  # TLS and SASL: Settings.kafka_options
        self.fanout = Fanout(partitions, keep, client_limit)
        self.keep = keep
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def started(self) -> Fanout:
        if self.task is None:
            self.task = asyncio.create_task(self._run())
        await self.ready.wait()
        return self.fanout

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, **self.connection, enable_auto_commit=False,
                                    group_id=None)
        await consumer.start()
        try:
            partitions = [TopicPartition(self.topic, p) for p in range(self.fanout.partitions)]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            back = self.keep // max(len(partitions), 1)
            for tp in partitions:
                begin = max(starts[tp], ends[tp] - back)
                consumer.seek(tp, begin)
                self.fanout.position[tp.partition] = self.fanout.floor[tp.partition] = begin
            self.ready.set()
            while True:
                fetched = await consumer.getmany(timeout_ms=1000, max_records=1000)
                for tp, records in fetched.items():
                    for record in records:
                        try:
                            update = read_update(record.value)
                        except (ValueError, KeyError, TypeError, AttributeError):
                            self.fanout.position[tp.partition] = record.offset + 1
                            continue
                        self.fanout.publish(tp.partition, record.offset, update)
        finally:
            await consumer.stop()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
