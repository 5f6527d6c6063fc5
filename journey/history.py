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
from functools import cached_property
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

    @cached_property
    def settled_id_set(self) -> frozenset[UUID]:
        """`settled_ids` for lookups (a tuple keeps the stored JSON plain)."""
        return frozenset(self.settled_ids)

    def position_of(self, event: Event) -> int | None:
        """Where `event` already is among `recent`, if it is: an event's place is fixed by its
        order key, which includes its id, so a binary search finds it."""
        place = bisect_right(self.recent, order_key(event), key=order_key)
        return place - 1 if place and self.recent[place - 1].id == event.id else None


def order_key(event: Event) -> tuple[datetime, int, str]:
    """When it happened; then a report before anything else at that moment (its routing carries
    the report's own time); then the id, so every arrival order gives one order."""
    return (event.time, 0 if event.type == "report.received" else 1, str(event.id))


def place_for(recent: tuple[Event, ...], event: Event) -> int:
    """Where an event goes among `recent`, by when it happened."""
    return bisect_right(recent, order_key(event), key=order_key)


def without_personal(event: Event) -> Event:
    """The event as the fold needs it: handlers never read the personal part, so it is not kept."""
    return event.model_copy(update={"personal": type(event.personal)()})


def due_to_settle(recent: tuple[Event, ...], window: timedelta) -> int:
    """How many of the oldest events can leave `recent`: both when they happened and when they
    were recorded lie more than `window` before the newest event's."""
    if not recent:
        return 0
    newest_time = recent[-1].time  # recent is in event-time order
    if recent[0].time >= newest_time - window:
        return 0  # the usual case: even the oldest recent event is within the window
    newest_recorded = max(e.recorded_at for e in recent)
    count = 0
    for event in recent:
        if event.time >= newest_time - window or event.recorded_at >= newest_recorded - window:
            break
        count += 1
    return count
