"""What the API answers when asked about a person."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from journey.state import Stage
from schemas.updates import TimelineEntry


class TimelineItem(TimelineEntry):
    """A timeline entry as the API shows it: with the event's data and its personal part."""

    data: dict[str, Any]
    personal: dict[str, Any]


class JourneyView(BaseModel):
    """A person's journey: where they are now and every event so far, oldest first."""

    person_id: UUID
    stage: Stage
    events: int
    first_seen: datetime | None
    last_seen: datetime | None
    last_area: str | None
    reports: int
    contacts: int
    rough_sleeping_nights: int
    emergency_bed_nights: int
    timeline: list[TimelineItem]
