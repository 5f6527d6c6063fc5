"""What the API answers when asked about a person."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from schemas.progress import Case, OpenReport, Stage
from schemas.sharing import Category, of
from schemas.updates import TimelineEntry


class TimelineItem(TimelineEntry):
    """A timeline entry as the API shows it: with the event's data and its personal part."""

    data: dict[str, Any]
    personal: dict[str, Any]


Status = Literal["active", "housed", "inactive", "closed", "merged", "at_risk"]


class JourneyView(BaseModel):
    """A person's journey: where they are now and every event so far, oldest first.

    When other records were merged into this person, their timelines are shown here too
    (each entry keeps its own person_id), and the counts cover them all.

    Only what the sharing policy lets the reader see is present: a field of a category the reader
    may not see is absent from the answer (not null). Each field's category is its `x-category`.
    """

    person_id: UUID
    known_to_outreach: Annotated[bool | None, of(Category.CONTACT_POINT)] = Field(
        None, description="Whether an outreach team has met the person")
    key_worker_organisation: Annotated[str | None, of(Category.CONTACT_POINT)] = Field(
        None, description="Whom to call: the key worker's organisation")
    stage: Annotated[Stage | None, of(Category.COORDINATION)] = None
    status: Annotated[Status | None, of(Category.COORDINATION)] = Field(
        None, description="Built for Zero status today: inactive after CASE_INACTIVE_AFTER_DAYS without contact")
    last_area: Annotated[str | None, of(Category.COORDINATION)] = None
    next_step: Annotated[str | None, of(Category.COORDINATION)] = Field(
        None, description="The next step from the latest contact that named one")
    provisional: Annotated[bool | None, of(Category.CORE)] = None
    events: Annotated[int | None, of(Category.CORE)] = None
    first_seen: Annotated[datetime | None, of(Category.CORE)] = None
    last_seen: Annotated[datetime | None, of(Category.CORE)] = None
    last_contact: Annotated[datetime | None, of(Category.CORE)] = None
    reports: Annotated[int | None, of(Category.CORE)] = None
    contacts: Annotated[int | None, of(Category.CORE)] = None
    rough_sleeping_nights: Annotated[int | None, of(Category.CORE)] = None
    emergency_bed_nights: Annotated[int | None, of(Category.CORE)] = None
    open_reports: Annotated[list[OpenReport] | None, of(Category.CORE)] = None
    accommodation: Annotated[str | None, of(Category.CORE)] = None
    training: Annotated[str | None, of(Category.CORE)] = None
    work: Annotated[str | None, of(Category.CORE)] = None
    duty: Annotated[str | None, of(Category.CORE)] = None
    duty_outcomes: Annotated[list[str] | None, of(Category.CORE)] = None
    case: Annotated[Case | None, of(Category.CORE)] = None
    merged_into: Annotated[UUID | None, of(Category.CORE)] = None
    merged: Annotated[list[UUID] | None, of(Category.CORE)] = None
    strengths: Annotated[list[str] | None, of(Category.STRENGTHS_GOALS)] = Field(
        None, description="What matters to the person, as last recorded")
    goals: Annotated[list[str] | None, of(Category.STRENGTHS_GOALS)] = None
    timeline: Annotated[list[TimelineItem] | None, of(Category.CORE)] = Field(
        None, description="Every event, oldest first; a reader without `core` sees only its own organisation's entries")


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


class PersonFound(BaseModel):
    """A person a search found, as far as the reader may see them: police and others who see
    only whom to call get just that (known to outreach, the key worker's organisation)."""

    person_id: UUID
    known_to_outreach: Annotated[bool | None, of(Category.CONTACT_POINT)] = None
    key_worker_organisation: Annotated[str | None, of(Category.CONTACT_POINT)] = None
    stage: Annotated[Stage | None, of(Category.COORDINATION)] = None
    last_area: Annotated[str | None, of(Category.COORDINATION)] = None
    names: Annotated[list[str] | None, of(Category.CORE)] = Field(None, description="Names and aliases recorded")
    date_of_birth: Annotated[date | None, of(Category.CORE)] = None


class ReferralView(BaseModel):
    """A referral as its maker and its receiver see it: who, why, what the person agreed to
    share, until when, and the answer. Nothing else about the person: the receiver sees the
    person through the policy once it has accepted."""

    referral_id: UUID
    person_id: UUID
    from_organisation: str
    to_organisation: str
    made_at: datetime
    reason: str | None
    categories: list[Category]
    expires_at: datetime | None
    status: Literal["open", "accepted", "declined", "withdrawn", "expired"]
    answered_at: datetime | None
    decline_reason: str | None


class RiskReportView(BaseModel):
    """A risk of homelessness report as the organisation that made it sees it afterwards: what it
    said (its own record, whole) and what became of it: its duty-to-refer referral's answer. Of
    the person, nothing more: the reporter does not work with them."""

    report_id: UUID
    reported_at: datetime
    urgency: str
    consent_to_refer: bool
    known_as: str | None = None
    factors: list[str] = []
    referred_to: str | None = None
    referral_status: Literal["open", "accepted", "declined", "withdrawn", "expired"] | None = Field(
        None, description="null: not referred (no consent)")
    answered_at: datetime | None = None
    decline_reason: str | None = None
