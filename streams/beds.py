"""The emergency-beds agents.

claim_nights:  bed-requests (by person) -> bed-commands, person-events   one claim per person per night
allocate:      bed-commands (by provider) -> bed-requests, bed-updates    the only writer of a provider's beds
project_beds:  bed-updates -> SQL read model
release_no_shows (timer): allocated beds not checked into by the release time -> bed-commands
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import faust
from sqlalchemy import Engine

from deploy.settings import Settings
from deploy.topics import BED_COMMANDS, BED_REQUESTS, BED_UPDATES, DEAD_LETTER, PERSON_EVENTS
from handlers.beds import claim_night, decide
from journey.beds import PersonNights, ProviderBeds, due_no_shows, picture
from schemas.beds import BedRequested, BedUpdate, StayCommand, decode_command, decode_person_message
from schemas.events import BedOutcome, decoder, encode_event
from streams.bed_projector import project_beds
from streams.dead_letter import dead_letter, decoded
from streams.faults import Faults
from streams.wiring import add_table, persist

log = logging.getLogger("journeys.beds")

NO_SHOWS = uuid5(NAMESPACE_URL, "journeys:no-show")
read_update = decoder(BedUpdate)


def add_bed_agents(app: faust.App, settings: Settings, topic: dict[str, Any], engine: Engine) -> None:
    claims = add_table(app, settings, "person-nights", "person-nights")
    providers = add_table(app, settings, "provider-beds", "provider-beds")
    batch, within = settings.worker_batch_size, settings.worker_batch_within_s
    faults = Faults(settings.fault_injection)

    async def outputs_then_state(changed: dict[bytes, Any], table: Any) -> None:
        """Write a batch's state only once its outputs are in Kafka. A crash before the state is
        written redelivers the batch, which is decided again from the state before it: the same
        outputs, with the same ids (they derive from the commands), and downstream keeps each
        once. The other order lost outputs: the state said "decided", the outputs never came."""
        if not changed:
            return
        await app.producer.flush()
        await faults.at("after-outputs", app)
        for key, state in changed.items():
            table[key] = state

    async def to_journey(outcome: BedOutcome) -> None:
        await topic[PERSON_EVENTS].send(key=str(outcome.subject).encode(), value=encode_event(outcome))

    @app.agent(topic[BED_REQUESTS], concurrency=1)
    async def claim_nights(stream: faust.StreamT) -> None:
        async for events in stream.take_events(batch, within):
            refusals: list[BedOutcome] = []
            # Each person's nights are written to the table (and its changelog) once per batch.
            changed: dict[bytes, PersonNights] = {}
            async for event, message in decoded(events, decode_person_message, topic[DEAD_LETTER]):
                person = message.person_id if isinstance(message, BedRequested) else message.subject
                if event.key != str(person).encode():
                    # The state of one person must only ever be written from that person's partition.
                    await dead_letter(topic[DEAD_LETTER], event.message, "rejected: key is not the person's id")
                    continue
                result = claim_night(changed.get(event.key) or claims.get(event.key), message)
                if result is None:
                    continue  # a redelivered request: already passed on or refused
                changed[event.key] = result.state
                if result.forward is not None:
                    await topic[BED_COMMANDS].send(
                        key=result.forward.provider_id.encode(), value=result.forward.model_dump_json().encode()
                    )
                for outcome in result.outcomes:
                    await to_journey(outcome)
                    if isinstance(message, BedOutcome):
                        continue  # the provider has published it already
                    refusals.append(outcome)
            # Refusals decided here never reach a provider: publish them for the read model.
            for outcome in refusals:
                update = BedUpdate(provider_id=outcome.data.provider_id, sequence=0, provider=None,
                                   outcomes=(outcome,))
                await topic[BED_UPDATES].send(key=outcome.data.provider_id.encode(),
                                              value=update.model_dump_json().encode())
            await outputs_then_state(changed, claims)

    @app.agent(topic[BED_COMMANDS], concurrency=1)
    async def allocate(stream: faust.StreamT) -> None:
        async for events in stream.take_events(batch, within):
            touched: dict[str, tuple[set[date], list[BedOutcome]]] = {}
            # A provider's state is written to the table once per batch, not once per command:
            # under contention most of a batch is for the same few providers.
            changed: dict[bytes, ProviderBeds] = {}
            async for event, command in decoded(events, decode_command, topic[DEAD_LETTER]):
                if event.key != command.provider_id.encode():
                    await dead_letter(topic[DEAD_LETTER], event.message, "rejected: key is not the provider id")
                    continue
                decision = decide(changed.get(event.key) or providers.get(event.key), command)
                if decision is None:
                    continue  # redelivered: already decided
                changed[event.key] = decision.state
                nights, outcomes = touched.setdefault(command.provider_id, (set(), []))
                nights.update(decision.nights)
                outcomes.extend(decision.outcomes)
                for outcome in decision.outcomes:
                    await topic[BED_REQUESTS].send(key=str(outcome.subject).encode(),
                                                   value=outcome.model_dump_json().encode())
            # One picture per provider per batch, whatever the number of commands in it.
            for provider_id, (nights, outcomes) in touched.items():
                state = changed[provider_id.encode()]
                update = BedUpdate(
                    provider_id=provider_id, sequence=state.sequence, provider=state.provider,
                    capacity=state.capacity, nights=tuple(picture(state, n) for n in sorted(nights)),
                    outcomes=tuple(outcomes),
                )
                await topic[BED_UPDATES].send(key=provider_id.encode(), value=update.model_dump_json().encode())
            await outputs_then_state(changed, providers)

    @app.agent(topic[BED_UPDATES], concurrency=1)
    async def project_bed_updates(stream: faust.StreamT) -> None:
        async for events in stream.take_events(batch, within):
            updates = [item async for item in decoded(events, read_update, topic[DEAD_LETTER])]
            await persist(project_beds, engine, updates, topic[DEAD_LETTER])

    @app.timer(settings.bed_no_show_check_s)
    async def release_no_shows() -> None:
        """Ask each provider's agent to release beds nobody arrived for. The agent decides: a
        check-in that got there first wins, and a repeated no-show changes nothing."""
        now = datetime.now(UTC)
        for key, state in list(providers.items()):
            for night, stay in due_no_shows(state, now, settings.zone):
                command = StayCommand(
                    id=uuid5(NO_SHOWS, str(stay.request_id)), type="bed.no_show", provider_id=state.provider_id,
                    source=state.provider.organisation if state.provider else "journeys", actor="no-show timer",
                    time=now, request_id=stay.request_id, night=night,
                )
                await topic[BED_COMMANDS].send(key=key, value=command.model_dump_json().encode())
