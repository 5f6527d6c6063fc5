"""A person's journey: what the platform knows about them, folded from their events."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any
from uuid import UUID

from pydantic import Field

from journey.nights import nights_between
from schemas.common import Strict
from schemas.progress import Case, OpenReport, Stage

# Stages in which the person has somewhere to stay tonight.
HOUSED = frozenset({Stage.EMERGENCY_ACCOMMODATION, Stage.SUPPORTED_ACCOMMODATION, Stage.TENANCY})


class Relationship(Strict):
    """An organisation works with the person: one of its members recorded a contact, a case
    step, a bed, an accommodation, training or work step or a duty about them (each allowed only
    to those who may already see the person), it accepted a referral, or it holds the key
    worker. It ends when the case closes, and is kept (for the audit)."""

    organisation: str
    since: datetime
    reason: str = Field(description="The event family that began it, or key_worker")
    ended_at: datetime | None = None


class Consent(Strict):
    """What the person agreed to share, as the consent.given event recorded it."""

    consent_id: UUID
    recorded_by: str
    given_at: datetime
    organisations: tuple[str, ...] = ()
    organisation_types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    until: datetime | None = None


class Referral(Strict):
    """A referral of the person to another organisation, as its events left it. An open referral
    past its expiry can no longer be accepted: `referral_status` says "expired" from then on."""

    referral_id: UUID
    from_organisation: str
    to_organisation: str
    made_at: datetime
    reason: str | None = None
    expires_at: datetime | None = None
    categories: tuple[str, ...] = ()
    status: str = Field("open", description="open, accepted, declined, withdrawn or expired")
    answered_at: datetime | None = None
    decline_reason: str | None = None


def referral_status(referral: Referral, at: datetime) -> str:
    """The referral's status at `at`: an open one past its expiry has expired; one the timer
    expired was still open before its expiry, so an answer given then and recorded late (a phone
    offline) still counts, whichever arrived first."""
    past_expiry = referral.expires_at is not None and referral.expires_at <= at
    if referral.status == "open" and past_expiry:
        return "expired"
    if referral.status == "expired" and not past_expiry:
        return "open"
    return referral.status


class Journey(Strict):
    """The state kept per person in the journey table. Immutable: handlers return new ones
    (copies are cheap: see `Strict.model_copy`)."""

    person_id: UUID
    stage: Stage
    sequence: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    last_area: str | None = None
    provisional: bool = Field(False, description="Known only from reports: no outreach worker has met them")
    reports: int = 0
    contacts: int = 0
    last_contact: datetime | None = None
    rough_sleeping_nights: tuple[date, ...] = ()
    emergency_bed_nights: tuple[date, ...] = ()
    open_reports: tuple[OpenReport, ...] = ()
    accommodation: str | None = Field(None, description="The latest accommodation step, e.g. tenancy_started")
    training: str | None = Field(None, description="The latest training step, e.g. course_enrolled")
    work: str | None = Field(None, description="The latest work step, e.g. job_sustained_13_weeks")
    duty: str | None = Field(None, description="The statutory duty open now: prevention or relief")
    duty_outcomes: tuple[str, ...] = ()
    case: Case = Case()
    merged_into: UUID | None = Field(None, description="Set when this record was merged into another person")
    merged: tuple[UUID, ...] = Field((), description="People merged into this one (their own journeys are kept)")
    linked: tuple[UUID, ...] = Field((), description="Records of the same person, kept apart")
    not_same_as: tuple[UUID, ...] = Field((), description="Records split from this one: never proposed again")
    relationships: tuple[Relationship, ...] = ()
    consents: tuple[Consent, ...] = Field((), description="Consents given and not withdrawn (expired ones too)")
    referrals: tuple[Referral, ...] = Field((), description="Referrals made about the person, with their answers")
    held_by: str | None = Field(
        None, description="Known only from a risk report made without the person's consent to be referred: "
        "the reporting organisation keeps it, and nobody else sees the person")


def contact_point(journey: Journey) -> dict[str, Any]:
    """Whether an outreach team has met the person, and whom to call: what police may see."""
    return {"known_to_outreach": journey.contacts > 0,
            "key_worker_organisation": journey.case.key_worker_organisation}


def works_with(journey: Journey, organisation: str) -> bool:
    """Whether the organisation has a relationship with the person now."""
    return any(r.organisation == organisation and r.ended_at is None for r in journey.relationships)


# Stages in which the person has moved on from the street: Built for Zero's "housed".
MOVED_ON = frozenset({Stage.SUPPORTED_ACCOMMODATION, Stage.TENANCY, Stage.RECONNECTED})


def status_today(journey: Journey, *, now: datetime, zone: tzinfo, inactive_after_days: int) -> str:
    """The person's Built for Zero status at `now`, as the statistics count it: merged records
    defer to the kept one; closed and moved-on people are not active; after the community-set
    number of nights without contact, a person is inactive."""
    if journey.merged_into is not None:
        return "merged"
    if journey.case.closed_at is not None:
        return "closed"
    if journey.stage in MOVED_ON:
        return "housed"
    if journey.stage is Stage.AT_RISK:
        return "at_risk"  # not homeless (yet): never counted among those sleeping rough
    last = journey.last_contact or journey.last_seen
    if last is not None and nights_between(last, now, zone) >= inactive_after_days:
        return "inactive"
    return "active"


def seen(journey: Journey, moment: datetime) -> dict[str, datetime]:
    """First and last seen, widened to include this moment (events may arrive late)."""
    first = moment if journey.first_seen is None else min(journey.first_seen, moment)
    last = moment if journey.last_seen is None else max(journey.last_seen, moment)
    return {"first_seen": first, "last_seen": last}


def with_night(nights: tuple[date, ...], night: date) -> tuple[date, ...]:
    return nights if night in nights else tuple(sorted((*nights, night)))
