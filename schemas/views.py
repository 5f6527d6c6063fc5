"""What the API answers when asked about a person."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from journey.state import Case, OpenReport, Stage
from schemas.updates import TimelineEntry


class TimelineItem(TimelineEntry):
    """A timeline entry as the API shows it: with the event's data and its personal part."""

    data: dict[str, Any]
    personal: dict[str, Any]


class JourneyView(BaseModel):
    """A person's journey: where they are now and every event so far, oldest first.

    When other records were merged into this person, their timelines are shown here too
    (each entry keeps its own person_id), and the counts cover them all.
    """

    person_id: UUID
    stage: Stage
    status: Literal["active", "housed", "inactive", "closed", "merged"] = Field(
        description="Built for Zero status today: inactive after CASE_INACTIVE_AFTER_DAYS without contact"
    )
    provisional: bool
    events: int
    first_seen: datetime | None
    last_seen: datetime | None
    last_contact: datetime | None
    last_area: str | None
    reports: int
    contacts: int
    rough_sleeping_nights: int
    emergency_bed_nights: int
    open_reports: list[OpenReport]
    accommodation: str | None
    training: str | None
    work: str | None
    duty: str | None
    duty_outcomes: list[str]
    case: Case
    strengths: list[str] = Field(description="What matters to the person, as last recorded")
    goals: list[str]
    next_step: str | None = Field(description="The next step from the latest contact that named one")
    merged_into: UUID | None
    merged: list[UUID]
    timeline: list[TimelineItem]


class IdentityVerdict(BaseModel):
    """What became of an identity decision: accepted (both records now say so) or refused, with
    why. Decisions are judged one at a time, in the order they reached the stream."""

    decision_id: UUID
    decision: Literal["merged", "merge_undone", "linked", "split"]
    person_id: UUID
    other: UUID
    status: Literal["accepted", "refused"]
    reason: str | None = None
    decided_by: str
    decided_at: datetime
