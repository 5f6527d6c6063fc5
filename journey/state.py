"""A person's journey: what the platform knows about them, folded from their events."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict

# A night runs from noon to noon: a bedded-down contact at 05:00 on the 10th is the night of
# the 9th, which is how outreach teams count early-morning street counts.
NIGHT_STARTS_AT = timedelta(hours=12)

# How many recent event ids each journey remembers to recognise a redelivered event.
# Redelivery under at-least-once happens within one uncommitted batch, so this is ample.
REMEMBERED_EVENT_IDS = 256


class Stage(StrEnum):
    """Where the person is on the road from the street, as far as events tell."""

    REPORTED = "reported"
    CONTACTED = "contacted"
    ENGAGED = "engaged"
    EMERGENCY_ACCOMMODATION = "emergency_accommodation"


class Journey(BaseModel):
    """The state kept per person in the journey table. Immutable: handlers return new ones."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person_id: UUID
    stage: Stage
    sequence: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    last_area: str | None = None
    reports: int = 0
    contacts: int = 0
    rough_sleeping_nights: tuple[date, ...] = ()
    emergency_bed_nights: tuple[date, ...] = ()
    recent_event_ids: tuple[UUID, ...] = ()

    def has_applied(self, event_id: UUID) -> bool:
        return event_id in self.recent_event_ids

    def remember(self, event_id: UUID) -> tuple[UUID, ...]:
        return (*self.recent_event_ids, event_id)[-REMEMBERED_EVENT_IDS:]


def night_of(moment: datetime) -> date:
    """The night a moment belongs to (noon to noon, in the moment's own offset)."""
    return (moment - NIGHT_STARTS_AT).date()


def seen(journey: Journey, moment: datetime) -> dict[str, datetime]:
    """First and last seen, widened to include this moment (events may arrive late)."""
    first = moment if journey.first_seen is None else min(journey.first_seen, moment)
    last = moment if journey.last_seen is None else max(journey.last_seen, moment)
    return {"first_seen": first, "last_seen": last}


def with_night(nights: tuple[date, ...], night: date) -> tuple[date, ...]:
    return nights if night in nights else tuple(sorted((*nights, night)))
