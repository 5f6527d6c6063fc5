"""The emergency-beds stages.

claim_nights:  bed-requests (by person) -> bed-commands, person-events   one claim per person per night
allocate:      bed-commands (by provider) -> bed-requests, bed-updates    the only writer of a provider's beds
project_beds:  bed-updates -> SQL read model
release_no_shows (timer): allocated beds not checked into by the release time -> bed-commands

Every stage's outputs reach Kafka before its state does (streams/engine.py): a crash in between
redelivers the batch, which is decided again from the state before it, giving the same outputs
with the same ids (they derive from the commands), and downstream keeps each once.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from uuid import NAMESPACE_URL, uuid5

from sqlalchemy import Engine as SQLEngine

from handlers.beds import claim_night, decide
from journey.beds import PersonNights, ProviderBeds, due_no_shows, picture
from schemas.beds import (
    BedRequested,
    BedUpdate,
    CommandRefused,
    StayCommand,
    decode_command,
    decode_person_message,
)
from schemas.events import BedOutcome, UndecodableEvent, decoder, encode_event
from schemas.settings import Settings
from schemas.topics import BED_COMMANDS, BED_REQUESTS, BED_UPDATES, PERSON_EVENTS, changelog
from streams.bed_projector import project_beds
from streams.engine import Batch, Engine, Stage
from streams.wiring import persist

log = logging.getLogger("journeys.beds")

NO_SHOWS = uuid5(NAMESPACE_URL, "journeys:no-show")
read_update = decoder(BedUpdate)


def bed_stages(settings: Settings, engine: SQLEngine) -> list[Stage]:
    commands_topic, requests_topic = settings.topic(BED_COMMANDS), settings.topic(BED_REQUESTS)
    updates_topic, person_events = settings.topic(BED_UPDATES), settings.topic(PERSON_EVENTS)

    def to_journey(batch: Batch, outcome: BedOutcome) -> None:
        batch.send(person_events, str(outcome.subject).encode(), encode_event(outcome))

    async def claim_nights(batch: Batch) -> None:
        refusals: list[BedOutcome] = []
        for record, message in batch.decoded(decode_person_message, UndecodableEvent):
            person = message.subject if isinstance(message, BedOutcome) else message.person_id
            if record.key != str(person).encode():
                # The state of one person must only ever be written from that person's partition.
                batch.dead_letter(record, "rejected: key is not the person's id")
                continue
            result = claim_night(batch.load(record.partition, record.key, PersonNights), message)
            if result is None:
                continue  # a redelivered request: already passed on or refused
            batch.keep(record.partition, record.key, result.state)
            if result.forward is not None:
                batch.send(commands_topic, result.forward.provider_id.encode(),
                           result.forward.model_dump_json().encode())
            for note in result.to_people:  # a merged record's request or nights, to the kept record
                batch.send(requests_topic, str(note.person_id).encode(), note.model_dump_json().encode())
            for withdrawal in result.withdrawals:
                batch.send(commands_topic, withdrawal.provider_id.encode(), withdrawal.model_dump_json().encode())
            for outcome in result.outcomes:
                to_journey(batch, outcome)
                if isinstance(message, BedRequested):
                    refusals.append(outcome)  # the provider publishes its own outcomes
        # Refusals decided here never reach a provider: publish them for the read model.
        for outcome in refusals:
            update = BedUpdate(provider_id=outcome.data.provider_id, sequence=0, provider=None, outcomes=(outcome,))
            batch.send(updates_topic, outcome.data.provider_id.encode(), update.model_dump_json().encode())

    async def allocate(batch: Batch) -> None:
        # A provider's state is decoded and written once per batch, not once per command: under
        # contention most of a batch is for the same few providers.
        touched: dict[tuple[int, bytes], tuple[set[date], list[BedOutcome], list[CommandRefused]]] = {}
        for record, command in batch.decoded(decode_command, UndecodableEvent):
            if record.key != command.provider_id.encode():
                batch.dead_letter(record, "rejected: key is not the provider id")
                continue
            decision = decide(batch.load(record.partition, record.key, ProviderBeds), command)
            if decision is None:
                continue  # redelivered: already decided
            batch.keep(record.partition, record.key, decision.state)
            nights, outcomes, refused = touched.setdefault((record.partition, record.key), (set(), [], []))
            nights.update(decision.nights)
            outcomes.extend(decision.outcomes)
            refused.extend(decision.refused)
            for outcome in decision.outcomes:
                batch.send(requests_topic, str(outcome.subject).encode(), outcome.model_dump_json().encode())
        # One picture per provider per batch, whatever the number of commands in it.
        for (partition, key), (nights, outcomes, refused) in touched.items():
            state = batch.load(partition, key, ProviderBeds)
            assert state is not None  # decided in this batch
            update = BedUpdate(
                provider_id=state.provider_id, sequence=state.sequence, provider=state.provider,
                capacity=state.capacity, nights=tuple(picture(state, n) for n in sorted(nights)),
                outcomes=tuple(outcomes), refused=tuple(refused),
            )
            batch.send(updates_topic, key, update.model_dump_json().encode())

    async def project_bed_updates(batch: Batch) -> None:
        persist(project_beds, engine, list(batch.decoded(read_update, UndecodableEvent)), batch)

    return [
        Stage("claim-nights", requests_topic, claim_nights, changelog(settings, "claim-nights")),
        Stage("allocate", commands_topic, allocate, changelog(settings, "allocate")),
        Stage("project-beds", updates_topic, project_bed_updates),
    ]


async def release_no_shows(settings: Settings, engine: Engine) -> None:
    """Ask each provider's stage (in the partitions this worker holds) to release beds nobody
    arrived for. The stage decides: a check-in that got there first wins, and a repeated no-show
    changes nothing."""
    now = datetime.now(UTC)
    for key, stored in engine.stage("allocate").values():
        state = ProviderBeds.model_validate_json(stored)
        for night, stay in due_no_shows(state, now, settings.zone):
            command = StayCommand(
                id=uuid5(NO_SHOWS, str(stay.request_id)), type="bed.no_show", provider_id=state.provider_id,
                source=state.provider.organisation if state.provider else "journeys", actor="no-show timer",
                time=now, request_id=stay.request_id, night=night,
            )
            await engine.send(settings.topic(BED_COMMANDS), key, command.model_dump_json().encode())
