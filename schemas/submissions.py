"""What clients submit to the API, and what the API answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, ClassVar, Generic, Literal, Self, TypeVar
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, model_validator

from schemas.common import IsoText, LongText, ShortText, Strict
from schemas.events import (
    AccommodationDetails,
    AccommodationRecorded,
    CaseDetails,
    CasePersonal,
    CaseRecorded,
    ConsentDetails,
    ConsentEvidence,
    ConsentRecorded,
    ContactDetails,
    ContactPersonal,
    ContactRecorded,
    DeclineReason,
    DutyDetails,
    DutyRecorded,
    FreeTextPersonal,
    IdentityChanged,
    IdentityDetails,
    NoPersonal,
    ReferralDetails,
    ReferralRecorded,
    ReportDetails,
    ReportOutcome,
    ReportPersonal,
    ReportProgress,
    ReportProgressed,
    ReportReceived,
    RiskDetails,
    RiskPersonal,
    RiskReported,
    WorkDetails,
    WorkRecorded,
)
from schemas.settings import get_settings
from schemas.sharing import Category


def _not_in_future(moment: datetime) -> datetime:
    # Only submissions are checked against the clock: replaying stored events must never fail
    # because time has moved on.
    limit = datetime.now(UTC) + timedelta(seconds=get_settings().clock_skew_s)
    if moment > limit:
        raise ValueError("is in the future")
    return moment


SubmittedTime = Annotated[AwareDatetime, IsoText, AfterValidator(_not_in_future)]

D = TypeVar("D", bound=BaseModel)
P = TypeVar("P", bound=BaseModel)


class Submission(Strict, Generic[D, P]):
    """One event as a client submits it: when it happened, what, and the personal part apart."""

    event_id: UUID | None = Field(
        None, description="The client's own id for this submission: a retry with the same id produces nothing "
        "new. It is this organisation's idempotency token, not the stored event's id (the answer's event_id)"
    )
    person_id: UUID | None = Field(None, description="The person, when the submitter knows them")
    occurred_at: SubmittedTime = Field(description="When it happened, with a timezone")
    details: D
    personal: P

    event_class: ClassVar[type[BaseModel]]
    # Fields the API fills in itself, not the client: left out of the idempotency fingerprint.
    set_by_api: ClassVar[frozenset[str]] = frozenset()

    def event_type(self) -> str:
        kind: str = self.event_class.model_fields["type"].default
        return kind


class ReportSubmission(Submission[ReportDetails, ReportPersonal]):
    """A sighting report: someone seen sleeping rough, by the public, staff, police or themself.

    Rules across fields: `details.area_code` or `personal.place` (coordinates or a description) is
    required; `occurred_at` has a time zone and is not in the future; only organisations that
    work with people may give `person_id`."""

    event_class = ReportReceived

    @model_validator(mode="after")
    def _somewhere(self) -> ReportSubmission:
        place = self.personal.place
        located = place is not None and (
            place.description or (place.latitude is not None and place.longitude is not None)
        )
        if not (self.details.area_code or located):
            raise ValueError("a report needs details.area_code or personal.place (coordinates or description)")
        return self


class RiskReportSubmission(Submission[RiskDetails, RiskPersonal]):
    """A risk of homelessness report from frontline staff ("eyes and ears"): the signs seen, how
    soon, and whether the person agreed to be referred to the housing authority (the duty to
    refer, which then makes the referral).

    Rules across fields: at least one factor; consent needs `details.consent_obtained`; a person
    nobody names (no `person_id`) needs `personal.known_as` or `personal.person_description`."""

    event_class = RiskReported

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if not self.personal.factors:
            raise ValueError("a risk report needs at least one factor in personal.factors")
        if self.details.consent_to_refer and self.details.consent_obtained is None:
            raise ValueError("details.consent_obtained is required when the person agreed to be referred")
        if self.person_id is None and not (self.personal.known_as or self.personal.person_description):
            raise ValueError("say who: personal.known_as or personal.person_description (or person_id)")
        return self


class ContactSubmission(Submission[ContactDetails, ContactPersonal]):
    """An outreach contact with a person.

    Rules across fields: everything in `details.accepted` is also in `details.offered`."""

    event_class = ContactRecorded


class StepSubmission(Submission[D, P]):
    """A step a partner took with a known person: the family's endpoint, `what` names the step."""

    person_id: UUID = Field(description="The person the step is about")
    what: str

    def event_type(self) -> str:
        return f"{self.family}.{self.what}"

    family: ClassVar[str]
    needs: ClassVar[dict[str, tuple[str, ...]]] = {}

    @model_validator(mode="after")
    def _step_has_its_fields(self) -> Self:
        # Some steps mean nothing without a field that others leave out: name what is missing.
        missing = [name for name in self.needs.get(self.what, ()) if getattr(self.details, name) is None]
        if missing:
            raise ValueError(f"{self.what} needs details.{', details.'.join(missing)}")
        return self


class AccommodationSubmission(StepSubmission[AccommodationDetails, FreeTextPersonal]):
    """Moved into supported housing, a tenancy started, sustained, lost, or a reconnection.

    Rules across fields: `reconnected` needs `details.to_area`."""

    what: Literal["supported_housing_entered", "tenancy_started", "tenancy_sustained_6_months",
                  "tenancy_sustained_12_months", "evicted", "abandoned", "reconnected"]
    personal: FreeTextPersonal = FreeTextPersonal()
    event_class = AccommodationRecorded
    family = "accommodation"
    needs = {"reconnected": ("to_area",)}


class WorkSubmission(StepSubmission[WorkDetails, FreeTextPersonal]):
    """A course enrolled on, a session attended, completed or left; a job started, sustained or left."""

    what: Literal["course_enrolled", "session_attended", "course_completed", "course_left", "job_started",
                  "job_sustained_13_weeks", "job_sustained_26_weeks", "job_left"]
    personal: FreeTextPersonal = FreeTextPersonal()
    event_class = WorkRecorded
    family = "work"


class DutySubmission(StepSubmission[DutyDetails, FreeTextPersonal]):
    """A prevention or relief duty started, or ended with its outcome.

    Rules across fields: `prevention_ended` and `relief_ended` need `details.outcome`."""

    what: Literal["prevention_started", "prevention_ended", "relief_started", "relief_ended"]
    personal: FreeTextPersonal = FreeTextPersonal()
    event_class = DutyRecorded
    family = "duty"
    needs = {"prevention_ended": ("outcome",), "relief_ended": ("outcome",)}


class CaseSubmission(StepSubmission[CaseDetails, CasePersonal]):
    """Key worker assigned, strengths and goals recorded, case closed or reopened.

    Rules across fields: `key_worker_assigned` needs `details.key_worker`; `closed` needs
    `details.close_reason`; `strengths_recorded` needs `personal.strengths` or `personal.goals`."""

    what: Literal["key_worker_assigned", "strengths_recorded", "closed", "reopened"]
    personal: CasePersonal = CasePersonal()
    event_class = CaseRecorded
    family = "case"
    needs = {"key_worker_assigned": ("key_worker",), "closed": ("close_reason",)}

    @model_validator(mode="after")
    def _strengths_say_something(self) -> CaseSubmission:
        if self.what == "strengths_recorded" and not (self.personal.strengths or self.personal.goals):
            raise ValueError("strengths_recorded needs personal.strengths or personal.goals")
        return self


class WalkInSubmission(Submission[CaseDetails, CasePersonal]):
    """Someone who walked in to a partner that does not know them: a new person record, with the
    partner working with them. Outreach or the council link it to a record they already have
    (POST /v1/identity/merges); the partner keeps its relationship with the person.

    Rules across fields: no `person_id` (a known person comes through a referral);
    `personal.known_as` or `personal.person_description`, so the record can be found."""

    personal: CasePersonal
    event_class = CaseRecorded

    def event_type(self) -> str:
        return "case.walked_in"

    @model_validator(mode="after")
    def _a_new_person_who_can_be_found(self) -> WalkInSubmission:
        if self.person_id is not None:
            raise ValueError("a walk-in is a new person: leave out person_id (a known person is referred to you)")
        if not (self.personal.known_as or self.personal.person_description):
            raise ValueError("a walk-in needs personal.known_as or personal.person_description")
        return self


class ReferralSubmission(StepSubmission[ReferralDetails, FreeTextPersonal]):
    """A referral made, or its answer: what the API puts on the intake (built from a
    ReferralRequest or a ReferralAnswer; the route checks who may)."""

    what: Literal["made", "accepted", "declined", "withdrawn"]
    personal: FreeTextPersonal = FreeTextPersonal()
    event_class = ReferralRecorded
    family = "referral"
    needs = {"made": ("to_organisation", "reason", "expires_at"), "accepted": ("referral",),
             "declined": ("referral", "decline_reason"), "withdrawn": ("referral",)}


class ReferralRequest(Strict):
    """A referral of a person to another organisation: why, what the person agreed the receiver
    may see once it accepts (recorded as their consent: say how it was obtained), and until when
    it may be accepted.

    Rules across fields: `categories` needs `consent_obtained`; `expires_at` (default: 14 days
    after `occurred_at`) is after `occurred_at`."""

    event_id: UUID | None = Field(None, description="The client's own id (its idempotency token); a retry produces "
                                    "nothing new. The stored event's id is the answer's event_id")
    person_id: UUID = Field(description="The person referred")
    to_organisation: ShortText = Field(description="The organisation the person is referred to")
    occurred_at: SubmittedTime
    reason: ShortText = Field(description="Why, in words for the receiver: no health or offending detail")
    categories: tuple[Category, ...] = Field(
        (), max_length=len(Category), description="What the person agreed the receiver may see once it accepts")
    consent_obtained: ConsentEvidence | None = Field(None, description="How that agreement was obtained")
    expires_at: Annotated[AwareDatetime | None, IsoText] = Field(
        None, description="After this it can no longer be accepted")
    notes: LongText | None = Field(None, description="More for the receiver, seen only with support_needs consent")

    @model_validator(mode="after")
    def _consent_says_how(self) -> ReferralRequest:
        if self.categories and self.consent_obtained is None:
            raise ValueError("categories need consent_obtained: how the person agreed to share them")
        if Category.REPORTER in self.categories:
            raise ValueError("categories cannot include reporter: a reporter's details are never shared")
        if self.expires_at is not None and self.expires_at <= self.occurred_at:
            raise ValueError("expires_at must be after occurred_at")
        return self


class ReferralAnswer(Strict):
    """The receiver's answer to a referral (accept, decline with a reason), or the referrer's
    withdrawal.

    Rules across fields: a decline needs `decline_reason`."""

    event_id: UUID | None = Field(None, description="The client's own id (its idempotency token)")
    occurred_at: SubmittedTime
    decline_reason: DeclineReason | None = None


class ReportStep(Strict):
    """Outreach went to look for a reported person, found an outcome, or told the reporter."""

    event_id: UUID | None = Field(None, description="The client's own id (its idempotency token); a retry produces "
                                    "nothing new. The stored event's id is the answer's event_id")
    what: Literal["attempted", "outcome", "reporter_told"]
    occurred_at: SubmittedTime
    team: ShortText | None = None
    outcome: ReportOutcome | None = None

    @model_validator(mode="after")
    def _outcome_named(self) -> ReportStep:
        if (self.what == "outcome") != (self.outcome is not None):
            raise ValueError("outcome is required for what=outcome, and only for it")
        return self


class ReportProgressSubmission(StepSubmission[ReportProgress, NoPersonal]):
    """A ReportStep with the report's person found: what the API puts on the intake."""

    what: Literal["attempted", "outcome", "reporter_told"]
    personal: NoPersonal = NoPersonal()
    event_class = ReportProgressed
    family = "report"


class IdentitySubmission(StepSubmission[IdentityDetails, NoPersonal]):
    """A person's decision about two records; the API builds it from an IdentityDecision."""

    what: Literal["merged", "merge_undone", "linked", "split"]
    personal: NoPersonal = NoPersonal()
    event_class = IdentityChanged
    family = "identity"
    set_by_api: ClassVar[frozenset[str]] = frozenset({"occurred_at"})


class IdentityDecision(Strict):
    """Two records and, for a merge or its undo, which one is kept."""

    event_id: UUID | None = Field(None, description="The client's own id (its idempotency token); a retry produces "
                                    "nothing new. The stored event's id is the answer's event_id")
    person_id: UUID = Field(description="The record merged, linked or split")
    other: UUID = Field(description="The record kept (merge), or the other record of the pair")
    reason: ShortText | None = Field(None, description="Why, in words that name no one")

    @model_validator(mode="after")
    def _two_records(self) -> IdentityDecision:
        if self.person_id == self.other:
            raise ValueError("person_id and other are the same record")
        return self


class ReportStatus(BaseModel):
    """What a reporter may know about their report (Open311-style): no personal detail."""

    report_id: UUID
    status: Literal["received", "routed", "attempted", "closed"]
    received_at: datetime
    area_code: str | None
    team: str | None
    due_by: datetime | None
    overdue: bool
    first_attempt_at: datetime | None
    outcome: ReportOutcome | None
    outcome_at: datetime | None
    wants_update: bool
    reporter_told_at: datetime | None


class Accepted(BaseModel):
    """Answer to a submission: the event is in Kafka under this id."""

    event_id: UUID
    person_id: UUID | None = None
    duplicate: bool = Field(False, description="True when this repeats an earlier submission")


class ConsentSubmission(StepSubmission[ConsentDetails, FreeTextPersonal]):
    """The person's consent to share: given (categories, to organisations or kinds of organisation,
    until when) or withdrawn (one consent by its event id, or all). Withdrawal rules every read
    as soon as the worker has applied it.

    Rules across fields: `given` needs `details.categories`, `details.obtained` (how the person
    agreed) and `details.organisations` or `details.organisation_types`, and takes no
    `details.consent`. Only an organisation that works with the person records it; recording it
    begins no relationship."""

    what: Literal["given", "withdrawn"]
    personal: FreeTextPersonal = FreeTextPersonal()
    event_class = ConsentRecorded
    family = "consent"

    @model_validator(mode="after")
    def _given_says_what_and_to_whom(self) -> ConsentSubmission:
        details = self.details
        if self.what == "given" and not details.categories:
            raise ValueError("given needs details.categories")
        if self.what == "given" and details.obtained is None:
            raise ValueError("given needs details.obtained: how the person's consent was obtained")
        if self.what == "given" and not (details.organisations or details.organisation_types):
            raise ValueError("given needs details.organisations or details.organisation_types")
        if self.what == "given" and details.consent is not None:
            raise ValueError("details.consent names the consent withdrawn; given takes none")
        return self
