"""What every agent module shares: table codecs, table creation, and writing to the read model."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import faust
from faust.serializers import codecs
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from deploy.settings import Settings
from journey.beds import PersonNights, ProviderBeds
from journey.identity import Alias
from streams.dead_letter import dead_letter

log = logging.getLogger("journeys.projector")


class ModelCodec(codecs.Codec):
    """A table's values in its changelog, as the JSON of one pydantic model."""

    def __init__(self, model: type[BaseModel]) -> None:
        super().__init__()
        self.model = model

    def _dumps(self, obj: BaseModel) -> bytes:
        return obj.model_dump_json().encode()

    def _loads(self, s: bytes) -> BaseModel:
        return self.model.model_validate_json(s)


for _name, _model in (("provider-beds", ProviderBeds), ("person-nights", PersonNights), ("alias", Alias)):
    codecs.register(_name, ModelCodec(_model))


def add_table(app: faust.App, settings: Settings, name: str, codec: str) -> faust.Table:
    """A table keyed by the same id as the topic that feeds it, its values in `codec`."""
    # use_partitioner: the changelog partition follows the key, exactly as the input topic's
    # does, so batches that span partitions still write each key to its own partition.
    table = app.conf.Table(
        app, name=name, default=None, partitions=settings.topic_partitions, use_partitioner=True,
        beacon=app.tables.beacon,
    )
    # Faust picks codecs from record types, and ours are plain: set them before the table is
    # registered, because registering creates its changelog topic with the codecs it has then.
    table.key_serializer = "raw"
    table.value_serializer = codec
    app.tables.add(table)
    return table


async def persist(write: Callable[[Engine, Sequence[Any], datetime], None], engine: Engine,
                  items: Sequence[tuple[Any, Any]], dead_letters: Any) -> None:
    """Write a batch of (event, row) to the read model in a thread, all in one transaction.

    A write the database cannot take now (it is down, locked, unreachable) is retried until it
    succeeds, never skipped: an exception in an agent would ack the batch and lose it. A write the
    database refuses for what is in it (a constraint, a value too long) would fail for ever and
    hold up every projection behind it: the batch is halved until the refused rows are found,
    and each goes to the dead-letter topic with the error's type, while the rest is written.
    """
    rows = [row for _event, row in items]
    try:
        await _written(write, engine, rows)
    except _Refused as refused:
        if len(items) == 1:
            event = items[0][0]
            log.error("ALERT read model refused a row (%s): dead-lettered topic=%s partition=%d offset=%d",
                      refused.kind, event.message.topic, event.message.partition, event.message.offset)
            await dead_letter(dead_letters, event.message, f"read model refused the row: {refused.kind}")
            return
        half = len(items) // 2
        await persist(write, engine, items[:half], dead_letters)
        await persist(write, engine, items[half:], dead_letters)


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
