"""What the journey agent publishes (journey updates) and what it rejects (dead letters)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from journey.state import Journey, Stage
from schemas.events import Event


class TimelineEntry(BaseModel):
    """One line of a journey's timeline. The summary never contains personal data."""

    model_config = ConfigDict(frozen=True)

    event_id: UUID
    person_id: UUID
    sequence: int
    type: str
    occurred_at: datetime
    recorded_at: datetime
    source: str
    summary: str
    stage: Stage


class JourneyUpdate(BaseModel):
    """One applied event as published on journey-updates: its timeline entry (with the stage
    after it) and the event itself. The whole journey is not sent: it is in the read model,
    written by the same step.

    `refolded`: a late event arrived before this one in event time, so this entry's place and
    stage changed; the event is sent without its personal part and only the entry changed."""

    entry: TimelineEntry
    event: Event
    refolded: bool = False


@dataclass(frozen=True, slots=True)
class Applied:
    """What the journey step hands the read model for one applied event: the journey after it,
    its timeline entry, the event, and whether it was folded again behind a late one."""

    journey: Journey
    entry: TimelineEntry
    event: Event
    refolded: bool = False


class DeadLetter(BaseModel):
    """A message the worker could not apply, kept whole so that nothing accepted is lost."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    reason: str
    topic: str
    partition: int
    offset: int
    key: str | None
    payload: bytes
