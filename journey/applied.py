"""What the journey step hands the read model and the pushes for one applied event."""

from __future__ import annotations

from dataclasses import dataclass

from journey.history import History
from journey.state import Journey
from schemas.events import Event
from schemas.updates import TimelineEntry


@dataclass(frozen=True, slots=True)
class Applied:
    """What the journey step hands the read model for one applied event: the journey after it,
    its timeline entry, the event, and whether it was folded again behind a late one; and the
    history kept after it, whose journey's JSON the read model stores (made once for both)."""

    journey: Journey
    entry: TimelineEntry
    event: Event
    refolded: bool = False
    history: History | None = None
