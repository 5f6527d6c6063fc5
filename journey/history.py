"""A person's events in the order they happened, as the journey agent keeps them.

A journey is the fold of a person's events in event-time order, whatever order they arrive in:
a phone that was offline sends yesterday's contact today, and a partner back-fills last month.
So the agent keeps, besides the journey itself, the recent events (sorted by when they happened,
their personal parts left out) to fold a late event into its place, and the id of every event it
has folded, so that a redelivered or re-produced event is never applied twice, however old.

Events leave `recent` for `settled` once both when they happened and when they were recorded
are more than the re-fold window older than the newest event's: a crash redelivers an event
within minutes of its recording, so its outputs can always be derived again, and a late event
that is older than everything still in `recent` is folded right after `settled` (the README
names this limit).
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from journey.state import Journey
from schemas.events import Event


class History(BaseModel):
    """What the journey agent keeps per person."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person_id: UUID
    journey: Journey
    settled: Journey | None = None
    settled_ids: tuple[UUID, ...] = ()
    recent: tuple[Event, ...] = ()

    def position_of(self, event_id: UUID) -> int | None:
        return next((i for i, e in enumerate(self.recent) if e.id == event_id), None)


def order_key(event: Event) -> tuple[datetime, int, str]:
    """When it happened; then a report before anything else at that moment (its routing carries
    the report's own time); then the id, so every arrival order gives one order."""
    return (event.time, 0 if event.type == "report.received" else 1, str(event.id))


def place_for(recent: tuple[Event, ...], event: Event) -> int:
    """Where an event goes among `recent`, by when it happened."""
    keys = [order_key(e) for e in recent]
    return bisect_right(keys, order_key(event))


def without_personal(event: Event) -> Event:
    """The event as the fold needs it: handlers never read the personal part, so it is not kept."""
    return event.model_copy(update={"personal": type(event.personal)()})


def due_to_settle(recent: tuple[Event, ...], window: timedelta) -> int:
    """How many of the oldest events can leave `recent`: both when they happened and when they
    were recorded lie more than `window` before the newest event's."""
    if not recent:
        return 0
    newest_time = max(e.time for e in recent)
    newest_recorded = max(e.recorded_at for e in recent)
    count = 0
    for event in recent:
        if event.time >= newest_time - window or event.recorded_at >= newest_recorded - window:
            break
        count += 1
    return count
