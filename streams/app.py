"""The Faust application: topics, tables and agents.

identify:  intake -> person-events     resolves the person (following merges), re-keys by
                                       person id, and routes reports to their outreach team
follow:    person-events -> journey-history table, journey-updates (in event-time order, each
                                       event once; a redelivered event's outputs sent again)
project:   journey-updates -> SQL read model
and the emergency-beds agents of streams/beds.py.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID, uuid5

import faust

import handlers
from deploy.settings import Settings
from deploy.topics import (
    BED_COMMANDS,
    BED_REQUESTS,
    BED_UPDATES,
    DEAD_LETTER,
    INTAKE,
    JOURNEY_UPDATES,
    PERSON_EVENTS,
)
from journey.history import History
from journey.identity import alias_after, resolve_person
from journey.reports import Routing
from schemas.events import (
    Event,
    IdentityChanged,
    ReportProgress,
    ReportProgressed,
    ReportReceived,
    decode_event,
    decoder,
    encode_event,
)
from schemas.read_model import connect
from schemas.updates import JourneyUpdate
from streams.beds import add_bed_agents
from streams.dead_letter import dead_letter, decoded
from streams.faults import Faults
from streams.projector import project
from streams.wiring import add_table, persist

read_update = decoder(JourneyUpdate)
log = logging.getLogger("journeys.follow")


ROUTED = UUID("0b6c3c55-6f0e-4f4e-9d3b-2f6a1c7e8d90")


def routed(event: Event, routing: Routing) -> list[ReportProgressed]:
    """A report is routed to its area's outreach team as it passes identity. The routing's id
    comes from the report's, so a redelivered report is routed once."""
    if not isinstance(event, ReportReceived):
        return []
    area = event.data.area_code
    return [ReportProgressed(
        id=uuid5(ROUTED, str(event.id)), type="report.routed", source="journeys", actor="router",
        subject=event.subject, time=event.time, recorded_at=event.recorded_at,
        data=ReportProgress(report_id=event.id, team=routing.team_for(area), area_code=area,
                            due_by=routing.due_by(area, event.time)),
    )]


def create_app(settings: Settings) -> faust.App:
    brokers = ";".join(f"kafka://{b.strip()}" for b in settings.kafka_bootstrap_servers.split(","))
    app = faust.App(
        settings.app_id,
        broker=brokers,
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_disable_leader=True,
        processing_guarantee="at_least_once",
        producer_acks=-1,
        # A few milliseconds of linger turn one produce request per event into one per batch.
        producer_linger=settings.worker_producer_linger_s,
        consumer_auto_offset_reset="earliest",
        stream_recovery_delay=0.0,
        # A worker that died is noticed within this time: its replacement waits no longer to
        # take its partitions (Faust's default of 60 s held a restarted worker up for a minute).
        broker_session_timeout=settings.worker_session_timeout_s,
        broker_heartbeat_interval=settings.worker_session_timeout_s / 4,
        web_enabled=False,
    )
    topic = {
        name: app.topic(settings.topic(name), key_type=bytes, value_type=bytes, partitions=settings.topic_partitions)
        for name in (INTAKE, PERSON_EVENTS, JOURNEY_UPDATES, DEAD_LETTER, BED_REQUESTS, BED_COMMANDS, BED_UPDATES)
    }
    # Histories stay JSON bytes in the table: a restart replays the changelog without decoding
    # every version of every person's history, and only the people a batch touches are decoded.
    histories_table = add_table(app, settings, "journey-history", "raw")
    refold_window = timedelta(days=settings.journey_refold_days)
    faults = Faults(settings.fault_injection)
    aliases = add_table(app, settings, "alias", "alias")
    engine = connect(settings.resolved_database_url)
    batch, within = settings.worker_batch_size, settings.worker_batch_within_s

    @app.agent(topic[INTAKE], concurrency=1)
    async def identify(stream: faust.StreamT) -> None:
        async for events in stream.take_events(batch, within):
            async for event, accepted in decoded(events, decode_event, topic[DEAD_LETTER]):
                person_id = resolve_person(accepted.subject, accepted.id)
                alias = aliases.get(event.key)
                if isinstance(accepted, IdentityChanged):
                    # A decision about this very record: it stays on it, and changes where
                    # the record's later events go.
                    changed = alias_after(alias, accepted.type, accepted.data.other)
                    if changed is None and alias is not None:
                        del aliases[event.key]
                    elif changed is not None and changed != alias:
                        aliases[event.key] = changed
                elif alias is not None and alias.merged_into is not None:
                    person_id = alias.merged_into  # merged: later events join the surviving record
                resolved = accepted.model_copy(update={"subject": person_id})
                for person_event in (resolved, *routed(resolved, settings.routing)):
                    await topic[PERSON_EVENTS].send(key=str(person_id).encode(), value=encode_event(person_event))

    @app.agent(topic[PERSON_EVENTS], concurrency=1)
    async def follow(stream: faust.StreamT) -> None:
        async for events in stream.take_events(batch, within):
            histories: dict[bytes, History | None] = {}
            published: list[tuple[bytes, JourneyUpdate]] = []
            redelivered = 0
            async for event, person_event in decoded(events, decode_event, topic[DEAD_LETTER]):
                key = event.key
                if key not in histories:
                    stored = histories_table.get(key)
                    histories[key] = History.model_validate_json(stored) if stored else None
                history = histories[key]
                try:
                    recorded = handlers.record(history, person_event, settings.zone, refold_window)
                except handlers.Rejected as rejection:
                    await dead_letter(topic[DEAD_LETTER], event.message, f"rejected: {rejection.reason}")
                    continue
                histories[key] = recorded.history
                redelivered += recorded.redelivered
                published.extend(
                    (key, JourneyUpdate(journey=outcome.journey, entry=outcome.entry, event=source,
                                        refolded=source is not person_event))
                    for outcome, source in recorded.published)
            # Each person's history is written once per batch, then the outputs are sent. A crash
            # between the two is safe: the batch is redelivered, and a redelivered event's outputs
            # are sent again (downstream keys everything by event id).
            for key, history in histories.items():
                if history is not None:
                    histories_table[key] = history.model_dump_json().encode()
            await faults.at("after-state", app)
            for key, update in published:
                await topic[JOURNEY_UPDATES].send(key=key, value=update.model_dump_json().encode())
            if redelivered:
                log.info("follow: %d events had been applied before; their outputs were sent again", redelivered)

    @app.agent(topic[JOURNEY_UPDATES], concurrency=1)
    async def project_updates(stream: faust.StreamT) -> None:
        async for events in stream.take_events(batch, within):
            updates = [item async for item in decoded(events, read_update, topic[DEAD_LETTER])]
            await persist(project, engine, updates, topic[DEAD_LETTER])

    add_bed_agents(app, settings, topic, engine)
    return app
