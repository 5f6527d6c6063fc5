"""The Faust application: topics, the journey table and the three agents.

identify:  intake -> person-events     resolves the person and re-keys by person id
follow:    person-events -> journey table, journey-updates
project:   journey-updates -> SQL read model
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import faust
from faust.serializers import codecs
from sqlalchemy.exc import SQLAlchemyError

import handlers
from deploy.settings import Settings
from deploy.topics import DEAD_LETTER, INTAKE, JOURNEY_UPDATES, PERSON_EVENTS
from journey.identity import resolve_person
from journey.state import Journey
from schemas.events import UndecodableEvent, decode_event, encode_event
from schemas.read_model import connect
from schemas.updates import JourneyUpdate
from streams.dead_letter import dead_letter
from streams.projector import project

log = logging.getLogger("journeys.projector")


class JourneyCodec(codecs.Codec):
    """Journey state in the table's changelog, as JSON."""

    def _dumps(self, obj: Journey) -> bytes:
        return obj.model_dump_json().encode()

    def _loads(self, s: bytes) -> Journey:
        return Journey.model_validate_json(s)


codecs.register("journey", JourneyCodec())


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
        web_enabled=False,
    )
    topic = {
        name: app.topic(settings.topic(name), key_type=bytes, value_type=bytes, partitions=settings.topic_partitions)
        for name in (INTAKE, PERSON_EVENTS, JOURNEY_UPDATES, DEAD_LETTER)
    }
    # use_partitioner: the changelog partition follows the key, exactly as person-events do,
    # so batches that span partitions still write each journey to its own partition.
    journeys = app.conf.Table(
        app, name="journey", default=None, partitions=settings.topic_partitions, use_partitioner=True,
        beacon=app.tables.beacon,
    )
    # Faust picks codecs from record types, and ours are plain: set them before the table is
    # registered, because registering creates its changelog topic with the codecs it has then.
    journeys.key_serializer = "raw"
    journeys.value_serializer = "journey"
    app.tables.add(journeys)
    engine = connect(settings.resolved_database_url)
    batch, within = settings.worker_batch_size, settings.worker_batch_within_s

    @app.agent(topic[INTAKE], concurrency=1)
    async def identify(stream: faust.StreamT) -> None:
        async for events in stream.take_events(batch, within):
            for event in events:
                try:
                    accepted = decode_event(event.value)
                except UndecodableEvent as error:
                    await dead_letter(topic[DEAD_LETTER], event.message, f"undecodable: {error}")
                    continue
                person_id = resolve_person(accepted.subject, accepted.id)
                resolved = accepted.model_copy(update={"subject": person_id})
                await topic[PERSON_EVENTS].send(key=str(person_id).encode(), value=encode_event(resolved))

    @app.agent(topic[PERSON_EVENTS], concurrency=1)
    async def follow(stream: faust.StreamT) -> None:
        async for events in stream.take_events(batch, within):
            for event in events:
                try:
                    person_event = decode_event(event.value)
                    outcome = handlers.apply(journeys.get(event.key), person_event)
                except UndecodableEvent as error:
                    await dead_letter(topic[DEAD_LETTER], event.message, f"undecodable: {error}")
                    continue
                except handlers.Rejected as rejection:
                    await dead_letter(topic[DEAD_LETTER], event.message, f"rejected: {rejection.reason}")
                    continue
                if outcome is None:
                    continue  # redelivered: already applied
                journeys[event.key] = outcome.journey
                update = JourneyUpdate(journey=outcome.journey, entry=outcome.entry, event=person_event)
                await topic[JOURNEY_UPDATES].send(key=event.key, value=update.model_dump_json().encode())

    @app.agent(topic[JOURNEY_UPDATES], concurrency=1)
    async def project_updates(stream: faust.StreamT) -> None:
        loop = asyncio.get_running_loop()
        async for events in stream.take_events(batch, within):
            updates = []
            for event in events:
                try:
                    updates.append(JourneyUpdate.model_validate_json(event.value))
                except ValueError:
                    await dead_letter(topic[DEAD_LETTER], event.message, "undecodable journey update")
            # SQL is blocking: a thread keeps the other agents moving meanwhile. A failed write
            # is retried, never skipped: an exception here would ack the batch and lose it.
            delay = 0.5
            while True:
                try:
                    await loop.run_in_executor(None, project, engine, updates, datetime.now(UTC))
                    break
                except SQLAlchemyError as error:
                    # The type only: SQL error text can quote the row's values.
                    log.warning("read model write failed (%s); retrying in %.1fs", type(error).__name__, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)

    return app
