"""Pure handlers: (journey, event) -> outcome. One module per event family; no I/O here.

`record` is what the journey agent calls: it keeps a person's events in event-time order
(journey/history.py), applies each event once however often it arrives, folds a late event into
its place, and returns the outcomes to publish: the event's own, and those of the later events
whose timeline entries its arrival changed. A redelivered event gets its outcomes again, so an
output lost in a crash between the state write and the send is sent on redelivery."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from functools import lru_cache, partial
from typing import Any
from uuid import UUID

from handlers import contacts, identity, moves, prevention, reports, sharing, stays
from handlers.errors import Rejected
from journey.history import History, Recent, due_to_settle, place_of
from journey.state import Journey
from schemas.events import (
    AccommodationRecorded,
    BedOutcome,
    CaseRecorded,
    ConsentRecorded,
    ContactRecorded,
    DutyRecorded,
    Event,
    IdentityChanged,
    ReferralRecorded,
    ReportProgressed,
    ReportReceived,
    RiskReported,
    WorkRecorded,
)
from schemas.ids import provisional_person_id
from schemas.progress import Stage
from schemas.updates import TimelineEntry

__all__ = ["Outcome", "Recorded", "Rejected", "apply", "fold", "record"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What applying one event produced: the new journey and the entry for its timeline."""

    journey: Journey
    entry: TimelineEntry


# Each takes its own family: the table below picks it by the event's class.
Handler = Callable[[Journey, Any], tuple[Journey, str]]


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
        ConsentRecorded: sharing.consent_recorded,
        ReferralRecorded: sharing.referral_recorded,
        RiskReported: prevention.risk_reported,
    }


def check_subject(event: Event) -> UUID:
    if event.subject is None:
        raise Rejected("event has no subject: it skipped the identity step")
    return event.subject


def apply(journey: Journey | None, event: Event, zone: tzinfo) -> Outcome:
    """Fold one event into a person's journey (one step: `record` decides order and duplicates).
    `zone` is the local time zone whose noon-to-noon nights the journey counts."""
    person_id = check_subject(event)
    if journey is None:
        # A report about someone nobody named starts a provisional person: the identity step
        # derived their id from this very event.
        first_report = isinstance(event, ReportReceived | RiskReported)
        provisional = first_report and person_id == provisional_person_id(event.id)
        stage = Stage.AT_RISK if isinstance(event, RiskReported) else Stage.REPORTED
        journey = Journey(person_id=person_id, stage=stage, provisional=provisional)
    elif journey.person_id != person_id:
        raise Rejected("event subject does not match the journey it was routed to")
    changed, summary = _handlers(zone)[type(event)](journey, event)
    changed = sharing.relate(changed, event)
    journey = changed.model_copy(update={"sequence": journey.sequence + 1})
    # Every value comes from the validated event and journey: validating them again cost more
    # than the handler.
    entry = TimelineEntry.model_construct(
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


@dataclass(frozen=True, slots=True)
class Recorded:
    """The person's history after an event arrived, and what to publish: (outcome, event) for
    the event and for every later event whose entry changed, oldest first. `redelivered` says
    the event had been applied before (its outcomes are the same as the first time's)."""

    history: History
    published: tuple[tuple[Outcome, Event], ...]
    redelivered: bool
    kept: tuple[Recent, ...] = ()  # each published event as the history keeps it, without its personal part


def record(history: History | None, event: Event, zone: tzinfo, window: timedelta) -> Recorded:
    """Take one arriving event into a person's history: in its place by event time, once."""
    person_id = check_subject(event)
    if history is not None and history.person_id != person_id:
        raise Rejected("event subject does not match the journey it was routed to")
    if history is not None and str(event.id) in history.settled_id_set:
        # Applied, published and settled long ago: nothing to do or to send again.
        return Recorded(history, (), redelivered=True)
    recent = history.recent if history else ()
    position, redelivered = place_of(recent, event)
    if not redelivered:
        recent = (*recent[:position], Recent.of(event), *recent[position:])
    # Recent events are decoded only if they must fold again: behind a late event, or settling.
    decoded: dict[int, Event] = {position: event}

    def at(index: int) -> Event:
        if index not in decoded:
            decoded[index] = recent[index].decoded()
        return decoded[index]

    if history is not None and not redelivered and position == len(recent) - 1:
        before: Journey | None = history.journey  # the usual case: the newest event so far
    else:
        before = history.settled if history else None
        for index in range(position):
            before = apply(before, at(index), zone).journey
    published = []
    journey = before
    for index in range(position, len(recent)):
        # The arriving event's own outcome carries it whole (the read model stores its personal
        # part); later events' outcomes change only their entries' place and stage.
        outcome = apply(journey, at(index), zone)
        journey = outcome.journey
        published.append((outcome, at(index)))
    kept = recent[position:]
    assert journey is not None
    settling = due_to_settle(recent, window)
    if not settling and history is not None:
        return Recorded(history.carried_on(journey, recent), tuple(published), redelivered, kept)
    settled = history.settled if history else None
    settled_ids = history.settled_ids if history else ()
    for index in range(settling):
        settled = apply(settled, at(index), zone).journey
        settled_ids = (*settled_ids, recent[index].id)
    changed = History(person_id, journey, settled, settled_ids, recent[settling:])
    return Recorded(changed, tuple(published), redelivered, kept)


def fold(events: Iterable[Event], zone: tzinfo, window: timedelta) -> History | None:
    """A person's history from their events in the order they arrive (for tests and replays)."""
    history = None
    for event in events:
        history = record(history, event, zone, window).history
    return history
