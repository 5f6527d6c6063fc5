"""Where a person is on their journey, as the journey state, its views and its updates all say it:
the stage, the open reports and the case. The lowest floor, so that the wire shapes (views,
updates, webhooks) need nothing of the domain's logic (journey/)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from schemas.common import Strict


class Stage(StrEnum):
    """Where the person is on the road from the street, as far as events tell.

    reported -> contacted -> engaged -> emergency_accommodation -> supported_accommodation ->
    tenancy, with returned_to_street when someone housed is seen bedded down again, and
    reconnected when they moved to another area with support. Training and work are strands
    beside the stages, not stages: a person can be on a course from a night shelter. A person
    known only from a risk of homelessness report is at_risk: not (yet) seen sleeping rough.
    """

    AT_RISK = "at_risk"
    REPORTED = "reported"
    CONTACTED = "contacted"
    ENGAGED = "engaged"
    EMERGENCY_ACCOMMODATION = "emergency_accommodation"
    SUPPORTED_ACCOMMODATION = "supported_accommodation"
    TENANCY = "tenancy"
    RETURNED_TO_STREET = "returned_to_street"
    RECONNECTED = "reconnected"


class OpenReport(Strict):
    """A sighting report about this person that has no outcome yet."""

    report_id: UUID
    received_at: datetime
    area_code: str | None = None
    team: str | None = None
    due_by: datetime | None = None
    attempted_at: datetime | None = None


class Case(Strict):
    """The case around the person: who holds it and whether it is open."""

    key_worker: str | None = None
    key_worker_organisation: str | None = None
    strengths_recorded_at: datetime | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None
