"""follow: person-events -> the SQL read model and journey-updates, with, in the read model's
transaction, deliveries to partners' webhooks (streams/delivery/) and notices to reporters
(streams/reporters.py), whose tasks send them.

Its state, by person: the person's history (journey/history.py), in event-time order, each event
once. An event that arrives late is folded into its place and the entries after it refolded; a
redelivered event's outputs are written and sent again (handlers.record decides).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from aiokafka.structs import ConsumerRecord
from sqlalchemy import Engine as SQLEngine

import handlers
from journey.applied import Applied
from journey.history import History
from journey.statistics import Rules
from schemas.events import UndecodableEvent, decode_event
from schemas.settings import Settings
from schemas.topics import JOURNEY_UPDATES, PERSON_EVENTS, changelog
from schemas.updates import journey_update_json
from streams.delivery import Pushed, push
from streams.persist import persist
from streams.projector import project_into
from streams.runtime import Batch, Stage

log = logging.getLogger("journeys.follow")


@dataclass(frozen=True, slots=True)
class Wake:
    """The worker's tasks that send what a batch's transaction left for them."""

    deliverer: asyncio.Event
    notifier: asyncio.Event

    def __call__(self, pushed: list[Pushed]) -> None:
        if any(p.deliveries for p in pushed):
            self.deliverer.set()
        if any(p.notices for p in pushed):
            self.notifier.set()


async def follow(batch: Batch, *, journey_updates: str, zone: ZoneInfo, refold_window: timedelta,
                 read_model: SQLEngine, wake: Wake, rules: Rules) -> None:
    applied: list[tuple[ConsumerRecord, Applied]] = []
    redelivered = 0
    for record, person_event in batch.decoded(decode_event, UndecodableEvent):
        history = batch.load(record.partition, record.key, History)
        try:
            recorded = handlers.record(history, person_event, zone, refold_window)
        except handlers.Rejected as rejection:
            batch.dead_letter(record, f"rejected: {rejection.reason}")
            continue
        batch.keep(record.partition, record.key, recorded.history)
        redelivered += recorded.redelivered
        for (outcome, source), kept in zip(recorded.published, recorded.kept, strict=True):
            done = Applied(outcome.journey, outcome.entry, source, refolded=source is not person_event,
                           history=recorded.history)
            applied.append((record, done))
            batch.send(journey_updates, record.key, journey_update_json(done.entry, kept.event, done.refolded))
    # The read model is written from this very step, once per person per batch, with the
    # deliveries and notices that announce what it stores, in one transaction.
    persist(partial(project_and_push, rules=rules), read_model, applied, batch, then=wake)
    if redelivered:
        log.info("follow: %d events had been applied before; their outputs were sent again", redelivered)


def project_and_push(read_model: SQLEngine, rows: Sequence[Applied], now: datetime, *, rules: Rules) -> Pushed:
    with read_model.begin() as connection:
        project_into(connection, rows, now, rules)
        return push(connection, rows, now)


def stage(settings: Settings, read_model: SQLEngine, wake: Wake) -> Stage:
    step = partial(follow, journey_updates=settings.topic(JOURNEY_UPDATES), zone=settings.zone,
                   refold_window=timedelta(days=settings.journey_refold_days), read_model=read_model, wake=wake,
                   rules=Rules.configured(settings))
    return Stage("follow", settings.topic(PERSON_EVENTS), step, changelog(settings, "follow"),
                 keep_decoded=settings.worker_decoded_histories)
