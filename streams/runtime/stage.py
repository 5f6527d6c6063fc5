"""The contract between the runtime and the stages: a `Stage` names its input topic, its
changelog and its step; the engine hands the step a `Batch` of that topic's records, and the step
decides from the batch's states what to keep, send and dead-letter, and which read-model writes
to make. Nothing here knows what a record means: decoding and encoding are passed in."""

from __future__ import annotations

import logging
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

log = logging.getLogger("journeys.engine")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Output:
    topic: str
    key: bytes | None
    value: bytes | None  # None: a changelog's tombstone
    partition: int | None = None


class PartitionStore(Protocol):
    """One stage's states in one partition, bytes by key (streams/runtime/store.py on disk,
    `MemoryState` in tests)."""

    def get(self, key: bytes) -> bytes | None: ...

    def write(self, changes: dict[bytes, bytes | None]) -> None: ...

    def items(self) -> Iterator[tuple[bytes, bytes]]: ...


class MemoryState:
    """A partition's states in a dict: for a stage's unit tests, without RocksDB or a broker."""

    def __init__(self, states: dict[bytes, bytes] | None = None) -> None:
        self.states = dict(states or {})

    def get(self, key: bytes) -> bytes | None:
        return self.states.get(key)

    def write(self, changes: dict[bytes, bytes | None]) -> None:
        for key, value in changes.items():
            if value is None:
                self.states.pop(key, None)
            else:
                self.states[key] = value

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(list(self.states.items()))


@dataclass(frozen=True, slots=True)
class DeadLetters:
    """Where a record no stage can take goes, and how it is written there: `encode(record,
    reason)` keeps the whole message with the reason."""

    topic: str
    encode: Callable[[ConsumerRecord, str], bytes]


class Handed:
    """Values sent by one stage to a topic another stage of the same worker reads, with what they
    decode to: the reading stage takes the decoded value instead of decoding the same bytes again
    (decoding an event cost ~25 µs, a tenth of the worker's time per event). Only a value equal
    byte for byte is taken, so what a stage sees is what decoding would have given. At most
    `room` are kept, the oldest dropped first: values sent to partitions another worker reads are
    never taken here."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.topics: set[str] = set()  # the topics values were handed to
        # Ordered: dropping the oldest of a plain dict scans past every slot already taken out of
        # it, which was 5% of the worker's time.
        self.values: OrderedDict[bytes, Any] = OrderedDict()

    def keep(self, value: bytes, decoded: Any) -> None:
        if self.room:
            self.values[value] = decoded
            if len(self.values) > self.room:
                self.values.popitem(last=False)

    def take(self, value: bytes | None) -> Any:
        return self.values.pop(value, None) if self.values and value is not None else None


Step = Callable[["Batch"], Awaitable[None]]


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
    # The states of the partitions this worker holds, set by the engine.
    store: dict[int, PartitionStore] = field(default_factory=dict)
    # The decoded states kept; emptied whenever partitions move.
    cache: OrderedDict[tuple[int, bytes], BaseModel] = field(default_factory=OrderedDict)

    def values(self) -> Iterable[tuple[bytes, bytes]]:
        """Every key's state in the partitions this worker holds now."""
        for partition in list(self.store):
            # A partition taken away while the caller awaited between two partitions is skipped.
            if (state := self.store.get(partition)) is not None:
                yield from list(state.items())


@dataclass(slots=True)
class Batch:
    """One stage's share of a fetch, its state, and what it decides to send."""

    stage: Stage
    records: list[ConsumerRecord]
    dead_letters: DeadLetters
    # Values this worker sent to a topic one of its own stages reads, with what they decode to
    # (see `send`); shared by every batch of the engine.
    handed: Handed = field(default_factory=lambda: Handed(0))
    outputs: list[Output] = field(default_factory=list)
    changed: dict[tuple[int, bytes], bytes | None] = field(default_factory=dict)
    states: dict[tuple[int, bytes], BaseModel | None] = field(default_factory=dict)
    kept: set[tuple[int, bytes]] = field(default_factory=set)
    writes: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    dead: list[tuple[ConsumerRecord, str]] = field(default_factory=list)

    def write_then(self, write: Callable[[], Awaitable[None]]) -> None:
        """A read-model write for the engine to make once the step is done, before the batch's
        outputs are sent (streams/persist.py): the next batch is decided meanwhile."""
        self.writes.append(write)

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
        changes: dict[int, dict[bytes, bytes | None]] = defaultdict(dict)
        for where in self.kept:
            state = self.states[where]
            value = None if state is None else state.model_dump_json().encode()
            changes[where[0]][where[1]] = value
            self.changed[where] = value
        for partition, values in changes.items():
            self.stage.store[partition].write(values)
        cache, room = self.stage.cache, self.stage.keep_decoded
        if room:
            for where, state in self.states.items():
                if state is not None:
                    cache[where] = state
            while len(cache) > room:
                cache.popitem(last=False)  # the least lately seen

    def send(self, topic: str, key: bytes | None, value: bytes, decoded: Any = None) -> None:
        """Send a value after the step. `decoded`: what the value decodes to, for a stage of this
        worker that reads the topic to take as it is instead of decoding it again."""
        self.outputs.append(Output(topic, key, value))
        if decoded is not None:
            self.handed.keep(value, decoded)
            self.handed.topics.add(topic)

    def dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        """Keep the whole message with the reason; log where it came from, never what it said."""
        self.send(self.dead_letters.topic, record.key, self.dead_letters.encode(record, reason))
        self.dead.append((record, reason))
        log.warning("dead-lettered topic=%s partition=%d offset=%d reason=%s",
                    record.topic, record.partition, record.offset, reason)

    def decoded(self, decode: Callable[[bytes], Any],
                undecodable: type[Exception]) -> Iterator[tuple[ConsumerRecord, Any]]:
        """Each record with its decoded value; those that do not decode are dead-lettered."""
        handed = self.handed.take
        for record in self.records:
            value = handed(record.value)
            if value is None:
                try:
                    value = decode(record.value)
                except undecodable as error:
                    self.dead_letter(record, f"undecodable: {error}")
                    continue
            yield record, value
