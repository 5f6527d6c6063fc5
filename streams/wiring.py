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
from sqlalchemy.exc import SQLAlchemyError

from deploy.settings import Settings
from journey.beds import PersonNights, ProviderBeds
from journey.identity import Alias

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
                  rows: Sequence[Any]) -> None:
    """Run a blocking read-model write in a thread, retrying until it succeeds.

    A failed write is retried, never skipped: an exception in an agent would ack the batch
    and lose it. The thread keeps the other agents moving meanwhile.
    """
    loop = asyncio.get_running_loop()
    delay = 0.5
    while True:
        try:
            await loop.run_in_executor(None, write, engine, rows, datetime.now(UTC))
            return
        except SQLAlchemyError as error:
            # The type only: SQL error text can quote the row's values.
            log.warning("read model write failed (%s); retrying in %.1fs", type(error).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
