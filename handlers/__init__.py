"""Pure handlers: (journey, event) -> outcome. One module per event family; no I/O here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from functools import lru_cache, partial
from uuid import UUID

from handlers import contacts, identity, moves, reports, stays
from handlers.errors import Rejected
from journey.identity import provisional_person_id
from journey.state import Journey, Stage
from schemas.events import (
    AccommodationRecorded,
    BedOutcome,
    CaseRecorded,
    ContactRecorded,
    DutyRecorded,
    Event,
    IdentityChanged,
    ReportProgressed,
    ReportReceived,
    WorkRecorded,
)
from schemas.updates import TimelineEntry

__all__ = ["Outcome", "Rejected", "apply"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What applying one event produced: the new journey and the entry for its timeline."""

    journey: Journey
    entry: TimelineEntry


Handler = Callable[[Journey, Event], tuple[Journey, str]]


@lru_cache
def _handlers(zone: tzinfo) -> dict[type, Handler]:
    """One handler per event family; those that count nights are given the local zone."""
    return {
        ReportReceived: reports.report_received,
        ContactRecorded: partial(contacts.contact_recorded, zone=zone),
        BedOutcome: stays.bed_outcome,
        ReportProgressed: reports.report_progressed,
        AccommodationRecorded: moves.accommodation_recorded,
        WorkRecorded: moves.work_recorded,
        DutyRecorded: moves.duty_recorded,
        CaseRecorded: moves.case_recorded,
        IdentityChanged: identity.identity_changed,
    }


def check_subject(event: Event) -> UUID:
    if event.subject is None:
        raise Rejected("event has no subject: it skipped the identity step")
    return event.subject


def apply(journey: Journey | None, event: Event, zone: tzinfo) -> Outcome | None:
    """Fold one event into a person's journey; None when the event was already applied.
    `zone` is the local time zone whose noon-to-noon nights the journey counts."""
    person_id = check_subject(event)
    if journey is None:
        # A report about someone nobody named starts a provisional person: the identity step
        # derived their id from this very event.
        provisional = isinstance(event, ReportReceived) and person_id == provisional_person_id(event.id)
        journey = Journey(person_id=person_id, stage=Stage.REPORTED, provisional=provisional)
    elif journey.person_id != person_id:
        raise Rejected("event subject does not match the journey it was routed to")
    if journey.has_applied(event.id):
        return None
    changed, summary = _handlers(zone)[type(event)](journey, event)
    journey = changed.model_copy(
        update={"sequence": journey.sequence + 1, "recent_event_ids": journey.remember(event.id)}
    )
    entry = TimelineEntry(
        event_id=event.id,
        person_id=person_id,
        sequence=journey.sequence,
        type=event.type,
        occurred_at=event.time,
        recorded_at=event.recorded_at,
        source=event.source,
        summary=summary,
        stage=journey.stage,
    )
    return Outcome(journey=journey, entry=entry)
