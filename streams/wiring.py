"""Writing a batch to the read model, whatever the database says."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka.structs import ConsumerRecord
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from streams.engine import Batch

log = logging.getLogger("journeys.projector")


def persist(write: Callable[[Engine, Sequence[Any], datetime], None], engine: Engine,
            items: Sequence[tuple[ConsumerRecord, Any]], batch: Batch, then: Callable[[], None] | None = None) -> None:
    """Have the engine write a batch of (record, row) to the read model once the step is done,
    in a thread, all in one transaction, before the batch's outputs are sent; then call `then`.
    See `_persist` for what happens when the database fails or refuses."""
    if items:
        async def write_them() -> None:
            await _persist(write, engine, items, batch)
            if then is not None:
                then()

        batch.write_then(write_them)


async def _persist(write: Callable[[Engine, Sequence[Any], datetime], None], engine: Engine,
                   items: Sequence[tuple[ConsumerRecord, Any]], batch: Batch) -> None:
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
        await _written(write, engine, [row for _record, row in items])
    except _Refused as refused:
        if len(items) == 1:
            record = items[0][0]
            log.error("ALERT read model refused a row (%s): dead-lettered topic=%s partition=%d offset=%d",
                      refused.kind, record.topic, record.partition, record.offset)
            batch.dead_letter(record, f"read model refused the row: {refused.kind}")
            return
        half = len(items) // 2
        await _persist(write, engine, items[:half], batch)
        await _persist(write, engine, items[half:], batch)


class _Refused(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


async def _written(write: Callable[[Engine, Sequence[Any], datetime], None], engine: Engine,
                   rows: Sequence[Any]) -> None:
    loop = asyncio.get_running_loop()
    delay = 0.5
    while True:
        try:
            await loop.run_in_executor(None, write, engine, rows, datetime.now(UTC))
            return
        except (OperationalError, InterfaceError) as error:
            # The type only: SQL error text can quote the row's values.
            log.warning("read model write failed (%s); retrying in %.1fs", type(error).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        except SQLAlchemyError as error:
            raise _Refused(type(error.orig if isinstance(error, DBAPIError) else error).__name__) from None
