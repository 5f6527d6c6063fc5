"""In-memory batches for the stages' unit tests: records as the consumer gives them, states in
`MemoryState` partitions, no broker and no RocksDB."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiokafka.structs import ConsumerRecord

from streams.runtime import Batch, DeadLetters, MemoryState, Stage

DEAD = DeadLetters("dead-letter", lambda record, reason: reason.encode())


def record(topic: str, key: bytes | None, value: bytes, *, partition: int = 0, offset: int = 0) -> ConsumerRecord:
    return ConsumerRecord(topic=topic, partition=partition, offset=offset, timestamp=0, timestamp_type=0, key=key,
                          value=value, checksum=None, serialized_key_size=len(key or b""),
                          serialized_value_size=len(value), headers=())


class Run:
    """A stage's step run batch after batch over the same in-memory partitions."""

    def __init__(self, topic: str, step: Callable[[Batch], Awaitable[None]], partitions: int = 1) -> None:
        self.stage = Stage("under-test", topic, step, changelog=f"{topic}-changelog")
        self.stage.store = {p: MemoryState() for p in range(partitions)}
        self.offset = 0

    async def batch(self, messages: Sequence[tuple[bytes | None, bytes]], partition: int = 0) -> Batch:
        records = []
        for key, value in messages:
            records.append(record(self.stage.topic, key, value, partition=partition, offset=self.offset))
            self.offset += 1
        batch = Batch(self.stage, records, DEAD)
        await self.stage.step(batch)
        batch.write_kept()  # as the engine does once the step is done
        return batch


def sent(batch: Batch, topic: str) -> list[tuple[bytes | None, bytes]]:
    return [(output.key, output.value) for output in batch.outputs if output.topic == topic]
