"""A person's events in the order they happened, as the journey stage keeps them.

A journey is the fold of a person's events in event-time order, whatever order they arrive in:
a phone that was offline sends yesterday's contact today, and a partner back-fills last month.
So the stage keeps, besides the journey itself, the events of the last re-fold window (sorted by
when they happened, their personal parts left out) to fold a late event into its place, the
fold of everything older (`settled`), and the id of every event it has folded, so that a
redelivered or re-produced event is never applied twice, however old.

The kept state does not grow with a person's history beyond the ids: an event leaves `recent`
for `settled` once it happened more than the window before the newest event. Recent events are
kept as their JSON text and decoded only when a late event makes them fold again, so the usual
arrival (the newest event so far) decodes and writes the journey alone. A late event that is
older than everything still in `recent` is folded right after `settled` (the README names this
limit). Settling does not wait for anything to be sent: the engine sends a batch's outputs
before it writes the state, so an event whose outputs were lost in a crash is not yet in the
state when it is redelivered.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta
from functools import cached_property
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from journey.state import Journey
from schemas.events import Event, decode_event


class Recent(BaseModel):
    """One event of the re-fold window: what orders it, and its JSON without the personal part."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    type: str
    time: datetime
    event: str

    @classmethod
    def of(cls, event: Event) -> Recent:
        kept = event.model_copy(update={"personal": type(event.personal)()})
        return cls.model_construct(id=event.id, type=event.type, time=event.time, event=kept.model_dump_json())

    def decoded(self) -> Event:
        return decode_event(self.event.encode())


class History(BaseModel):
    """What the journey stage keeps per person."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person_id: UUID
    journey: Journey
    settled: Journey | None = None
    settled_ids: tuple[UUID, ...] = ()
    recent: tuple[Recent, ...] = ()

    @cached_property
    def settled_id_set(self) -> frozenset[UUID]:
        """`settled_ids` for lookups (a tuple keeps the stored JSON plain)."""
        return frozenset(self.settled_ids)

    def position_of(self, event: Event) -> int | None:
        """Where `event` already is among `recent`, if it is: an event's place is fixed by its
        order key, which includes its id, so a binary search finds it."""
        place = bisect_right(self.recent, order_key(event), key=order_key)
        return place - 1 if place and self.recent[place - 1].id == event.id else None


def order_key(event: Event | Recent) -> tuple[datetime, int, str]:
    """When it happened; then a report before anything else at that moment (its routing carries
    the report's own time); then the id, so every arrival order gives one order."""
    return (event.time, 0 if event.type == "report.received" else 1, str(event.id))


def place_for(recent: tuple[Recent, ...], event: Event) -> int:
    """Where an event goes among `recent`, by when it happened."""
    return bisect_right(recent, order_key(event), key=order_key)


def due_to_settle(recent: tuple[Recent, ...], window: timedelta) -> int:
    """How many of the oldest events can leave `recent`: they happened more than `window` before
    the newest event."""
    if not recent:
        return 0
    oldest_kept = recent[-1].time - window  # recent is in event-time order
    count = 0
    for event in recent:
        if event.time >= oldest_kept:
            break
        count += 1
    return count
