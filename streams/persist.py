"""Writing a stage's batch to the read model, whatever the database says: the stages' one way to
ask the runtime for a read-model write (made in a thread, before the batch's outputs are sent)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka.structs import ConsumerRecord
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from readmodel.profiles import forget_known as forget_known_profiles
from streams.runtime import Batch

log = logging.getLogger("journeys.projector")
R = TypeVar("R")
Write = Callable[[Engine, Sequence[Any], datetime], R]


def persist(write: Write[R], engine: Engine, items: Sequence[tuple[ConsumerRecord, Any]], batch: Batch,
            then: Callable[[list[R]], None] | None = None) -> None:
    """Have the engine write a batch of (record, row) to the read model once the step is done,
    in a thread, all in one transaction, before the batch's outputs are sent; then call `then`
    with what each transaction's `write` returned. See `_persist` for what happens when the
    database fails or refuses."""
    if items:
        batch.write_then(_Persisting(write, engine, items, batch, then))


@dataclass(frozen=True, slots=True)
class _Persisting:
    """A batch's write, for the runtime to await."""

    write: Write[Any]
    engine: Engine
    items: Sequence[tuple[ConsumerRecord, Any]]
    batch: Batch
    then: Callable[[list[Any]], None] | None

    async def __call__(self) -> None:
        results: list[Any] = []
        await _persist(self.write, self.engine, self.items, self.batch, results)
        if self.then is not None:
            self.then(results)


async def _persist(write: Write[Any], engine: Engine, items: Sequence[tuple[ConsumerRecord, Any]], batch: Batch,
                   results: list[Any]) -> None:
    """Write a batch of (record, row) to the read model in a thread, all in one transaction.

    A write the database cannot take now (it is down, locked, unreachable) is retried until it
    succeeds, never skipped. A write the database refuses for what is in it (a constraint, a value
    too long) would fail for ever and hold up every projection behind it: the batch is halved
    until the refused rows are found, and each goes to the dead-letter topic with the error's
    type, while the rest is written.
    """
    if not items:
        return
    try:
        results.append(await _written(write, engine, [row for _record, row in items]))
    except _Refused as refused:
        if len(items) == 1:
            record = items[0][0]
            log.error("ALERT read model refused a row (%s): dead-lettered topic=%s partition=%d offset=%d",
                      refused.kind, record.topic, record.partition, record.offset)
            batch.dead_letter(record, f"read model refused the row: {refused.kind}")
            return
        half = len(items) // 2
        await _persist(write, engine, items[:half], batch, results)
        await _persist(write, engine, items[half:], batch, results)


class _Refused(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


async def _written(write: Write[Any], engine: Engine, rows: Sequence[Any]) -> Any:
    loop = asyncio.get_running_loop()
    delay = 0.5
    while True:
        try:
            return await loop.run_in_executor(None, write, engine, rows, datetime.now(UTC))
        except (OperationalError, InterfaceError) as error:
            # A commit that failed may have been counted as done by the profiles' memory.
            forget_known_profiles(engine)
            # The type only: SQL error text can quote the row's values.
            log.warning("read model write failed (%s); retrying in %.1fs", type(error).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        except SQLAlchemyError as error:
            forget_known_profiles(engine)
            raise _Refused(type(error.orig if isinstance(error, DBAPIError) else error).__name__) from None
