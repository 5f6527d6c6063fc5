"""identify: intake -> person-events (and bed-requests, when a record is merged).

Resolves each accepted event's person (the one it names, or a new provisional person; a merged
record's later events go to the record it was merged into), re-keys it by person id,
routes reports to their area's outreach team (journey/reports.py) and makes a risk report given
with consent the person's referral to the housing authority (the duty to refer,
journey/prevention.py). Its state, by record: the record's
alias (journey/identity.py), changed only by identity decisions about that record.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from uuid import UUID

from sqlalchemy import Engine as SQLEngine

from journey.identity import Alias, alias_after, resolve_person
from journey.prevention import DutyToRefer, referred
from journey.reports import Routing, routed
from readmodel.data_keys import Keyring, keyring
from schemas.beds import RecordMerged
from schemas.events import (
    Event,
    IdentityChanged,
    RiskReported,
    UndecodableEvent,
    decode_event,
    encode_event,
    opened_event,
)
from schemas.ids import merge_told_to_beds_id
from schemas.settings import Settings
from schemas.topics import BED_REQUESTS, INTAKE, PERSON_EVENTS, changelog
from streams.runtime import Batch, Stage

DUTY = DutyToRefer()  # the settings' defaults, for callers that pass none
Opening = Callable[[Event], Event]


def unopened(event: Event) -> Event:
    return event


def opening_with(keys: Keyring) -> Opening:
    """Opens an event's sealed personal part with the read model's data keys."""
    def opening(event: Event) -> Event:
        return opened_event(event, keys.opening({part.key for part in event.sealed}))
    return opening


async def identify(batch: Batch, *, person_events: str, bed_requests: str, routing: Routing,
                   duty: DutyToRefer = DUTY, opening: Opening = unopened) -> None:
    for record, accepted in batch.decoded(decode_event, UndecodableEvent):
        person_id = resolve_person(accepted.subject, accepted.id)
        alias = batch.load(record.partition, record.key, Alias)
        if isinstance(accepted, IdentityChanged):
            # A decision about this very record: it stays on it, and changes where the
            # record's later events go, and whose nights its bed requests count against.
            changed = alias_after(alias, accepted.type, accepted.data.other)
            if changed != alias:
                batch.keep(record.partition, record.key, changed)
            before, after = (a.merged_into if a else None for a in (alias, changed))
            if before != after:
                told = RecordMerged(type="person.merged" if after else "person.merge_undone",
                                    id=merge_told_to_beds_id(accepted.id), person_id=person_id,
                                    into=after or before, time=accepted.time)
                batch.send(bed_requests, str(person_id).encode(), told.model_dump_json().encode())
        elif alias is not None and alias.merged_into is not None:
            person_id = alias.merged_into  # merged: later events join the surviving record
        key = str(person_id).encode()
        for person_event, value in person_events_of(accepted, record.value, person_id, routing, duty, opening):
            batch.send(person_events, key, value, decoded=person_event)


def person_events_of(accepted: Event, value: bytes, person_id: UUID, routing: Routing,
                     duty: DutyToRefer = DUTY, opening: Opening = unopened) -> list[tuple[Event, bytes]]:
    """What identify sends on for an accepted event (`value`, its bytes), now known to be about
    `person_id`: the event about that person, its report's routing and a risk report's referral;
    each with its bytes. An
    event that already names the person goes on as the bytes it came as (they decode to it):
    encoding it again cost a tenth of identify's time."""
    if accepted.subject == person_id:
        resolved: Event = accepted
    else:
        resolved = accepted.model_copy(update={"subject": person_id})
        value = encode_event(resolved)
    # The duty to refer shares what the risk report's factors concern: the one event identify
    # opens, to decide; what it sends on stays sealed.
    risk = opening(resolved) if isinstance(resolved, RiskReported) and resolved.sealed else resolved
    derived: list[Event] = [*routed(resolved, routing), *referred(risk, duty)]
    return [(resolved, value), *((step, encode_event(step)) for step in derived)]


def stage(settings: Settings, read_model: SQLEngine) -> Stage:
    step = partial(identify, person_events=settings.topic(PERSON_EVENTS), bed_requests=settings.topic(BED_REQUESTS),
                   routing=Routing.configured(settings), duty=DutyToRefer.configured(settings),
                   opening=opening_with(keyring(read_model)))
    return Stage("identify", settings.topic(INTAKE), step, changelog(settings, "identify"))
