"""The audit table relayed to the append-only audit topic, for whoever watches reads (a SIEM, a
data protection officer's tools). The API writes each read's entry in the read's own request
(the table is the record that counts); the worker that holds person-events' partition 0 sends
new entries on, in entry order, keyed by organisation, and then moves its position. A crash
between the two sends some entries again: each carries its `entry_id`."""

from __future__ import annotations

import asyncio
import json
import logging

from aiokafka import TopicPartition
from sqlalchemy import Engine, select

from readmodel.tables import audit_entries, audit_relayed
from schemas.settings import Settings
from schemas.topics import AUDIT, PERSON_EVENTS
from streams.runtime import Engine as StreamEngine

log = logging.getLogger("journeys.audit")

RELAY = "audit-topic"
BATCH = 1000


def _pending(engine: Engine) -> tuple[int, list[dict]]:
    with engine.connect() as connection:
        position = connection.execute(
            select(audit_relayed.c.entry_id).where(audit_relayed.c.relay == RELAY)).scalar() or 0
        rows = connection.execute(
            select(audit_entries).where(audit_entries.c.entry_id > position)
            .order_by(audit_entries.c.entry_id).limit(BATCH)).mappings().all()
    return position, [dict(row) for row in rows]


def _moved(engine: Engine, position: int, to: int) -> None:
    with engine.begin() as connection:
        if position:
            connection.execute(audit_relayed.update().where(audit_relayed.c.relay == RELAY).values(entry_id=to))
        else:
            connection.execute(audit_relayed.insert().values(relay=RELAY, entry_id=to))


async def relay_audit(settings: Settings, engine: Engine, stream: StreamEngine) -> int:
    """Send the audit entries not yet on the topic; return how many were sent."""
    consumer = stream.consumer
    if consumer is None or TopicPartition(settings.topic(PERSON_EVENTS), 0) not in consumer.assignment():
        return 0  # one worker relays: the one holding partition 0
    loop = asyncio.get_running_loop()
    position, rows = await loop.run_in_executor(None, _pending, engine)
    if not rows:
        return 0
    await stream.send_all(settings.topic(AUDIT), [
        (row["organisation"].encode(),
         json.dumps({**row, "at": row["at"].isoformat(), "categories": row["categories"].split(",")}).encode())
        for row in rows])
    await loop.run_in_executor(None, _moved, engine, position, rows[-1]["entry_id"])
    return len(rows)
