"""claim-nights: bed-requests (by person) -> bed-commands (by provider), person-events, bed-updates.

One claim per person per night: a request for a night the person already holds a bed for (or
asked for) is refused here, and never reaches a provider. Its state, by person: the nights they
claimed (journey/beds.py), decided by handlers/beds.claim_night. A merged record's requests and
nights go to the kept record's partition.
"""

from __future__ import annotations

from functools import partial

from handlers.beds import claim_night
from journey.beds import PersonNights
from schemas.beds import BedRequested, BedUpdate, decode_person_message
from schemas.events import BedOutcome, UndecodableEvent, encode_event
from schemas.settings import Settings
from schemas.topics import BED_COMMANDS, BED_REQUESTS, BED_UPDATES, PERSON_EVENTS, changelog
from streams.runtime import Batch, Stage


async def claim_nights(batch: Batch, *, bed_commands: str, bed_requests: str, bed_updates: str,
                       person_events: str) -> None:
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
            batch.send(bed_commands, result.forward.provider_id.encode(), result.forward.model_dump_json().encode())
        for note in result.to_people:  # a merged record's request or nights, to the kept record
            batch.send(bed_requests, str(note.person_id).encode(), note.model_dump_json().encode())
        for withdrawal in result.withdrawals:
            batch.send(bed_commands, withdrawal.provider_id.encode(), withdrawal.model_dump_json().encode())
        for outcome in result.outcomes:
            batch.send(person_events, str(outcome.subject).encode(), encode_event(outcome))
            if isinstance(message, BedRequested):
                refusals.append(outcome)  # the provider publishes its own outcomes
    # Refusals decided here never reach a provider: publish them for the read model.
    for outcome in refusals:
        update = BedUpdate(provider_id=outcome.data.provider_id, sequence=0, provider=None, outcomes=(outcome,))
        batch.send(bed_updates, outcome.data.provider_id.encode(), update.model_dump_json().encode())


def stage(settings: Settings) -> Stage:
    step = partial(claim_nights, bed_commands=settings.topic(BED_COMMANDS), bed_requests=settings.topic(BED_REQUESTS),
                   bed_updates=settings.topic(BED_UPDATES), person_events=settings.topic(PERSON_EVENTS))
    return Stage("claim-nights", settings.topic(BED_REQUESTS), step, changelog(settings, "claim-nights"))
