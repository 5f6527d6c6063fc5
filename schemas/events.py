"""The event envelope and the versioned event families that travel through Kafka.

Every event carries CloudEvents-style attributes (id, type, source, subject, time) plus the
schema version, the actor and the time it was recorded. What identifies or describes a person
sits only in the `personal` part, so that it can be encrypted with a per-person key and erased
by destroying that key; everything in `data` is safe for statistics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter, ValidationError, model_validator

from schemas.common import AreaCode, Flag, IsoDate, IsoText, LongText, PersonName, Place, ShortText, Strict
from schemas.sealed import SealedPart, opened, stored_form
from schemas.sharing import Category, OrganisationType, of

# ---------------------------------------------------------------- sighting reports


class Channel(StrEnum):
    """Who saw the person: the public, frontline staff ("eyes and ears"), police, or the person."""

    PUBLIC = "public"
    STAFF = "staff"
    POLICE = "police"
    SELF = "self"


class ReportDetails(Strict):
    """What a sighting report says that is not personal."""

    channel: Annotated[Channel, of(Category.CORE)]
    reporter_role: Annotated[ShortText | None, of(Category.CORE)] = None
    area_code: Annotated[AreaCode | None, of(Category.COORDINATION)] = None
    over_18: Annotated[Flag | None, of(Category.CORE)] = Field(
        None, description="Does the reporter think the person is over 18? null: unsure"
    )
    emergency: Annotated[Flag, of(Category.CORE)] = False
    wants_update: Annotated[Flag, of(Category.CORE)] = False


class ReporterContact(Strict):
    name: PersonName | None = None
    phone: Annotated[str, Field(max_length=32, pattern=r"^[0-9 +()-]+$")] | None = None
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None


class ReportPersonal(Strict):
    """The personal part of a report: the person's description, the place, the reporter."""

    person_description: Annotated[LongText | None, of(Category.CORE)] = None
    place: Annotated[Place | None, of(Category.CONTACT_DETAILS)] = None
    reporter: Annotated[ReporterContact | None, of(Category.REPORTER)] = None


# ---------------------------------------------------------------- outreach contacts


class Offer(StrEnum):
    """What outreach can offer at a contact."""

    EMERGENCY_BED = "emergency_bed"
    SUPPORTED_ACCOMMODATION = "supported_accommodation"
    RECONNECTION = "reconnection"
    HEALTH_SERVICE = "health_service"
    MENTAL_HEALTH_SERVICE = "mental_health_service"
    SUBSTANCE_USE_SERVICE = "substance_use_service"
    BENEFITS_ADVICE = "benefits_advice"
    EMPLOYMENT_TRAINING = "employment_training"
    FOOD = "food"
    CLOTHING = "clothing"


class Need(StrEnum):
    """Support needs noted at a contact. Special-category data: personal part only."""

    PHYSICAL_HEALTH = "physical_health"
    MENTAL_HEALTH = "mental_health"
    ALCOHOL = "alcohol"
    DRUGS = "drugs"
    DOMESTIC_ABUSE = "domestic_abuse"
    OFFENDING = "offending"
    BENEFITS = "benefits"
    IMMIGRATION = "immigration"


# Which kind of information each need is: the policy shows a need only where its category is seen.
NEED_CATEGORY: dict[Need, Category] = {
    Need.PHYSICAL_HEALTH: Category.HEALTH,
    Need.MENTAL_HEALTH: Category.HEALTH,
    Need.ALCOHOL: Category.HEALTH,
    Need.DRUGS: Category.HEALTH,
    Need.DOMESTIC_ABUSE: Category.SUPPORT_NEEDS,
    Need.OFFENDING: Category.OFFENDING,
    Need.BENEFITS: Category.SUPPORT_NEEDS,
    Need.IMMIGRATION: Category.IMMIGRATION,
}


class NameQuality(StrEnum):
    """How far a recorded name can be trusted: street names and partial names are normal."""

    FULL = "full"
    PARTIAL = "partial"
    STREET_NAME = "street_name"
    UNKNOWN = "unknown"


class ContactDetails(Strict):
    """What an outreach contact says that is not personal."""

    team: Annotated[ShortText, of(Category.COORDINATION)]
    worker: Annotated[ShortText, of(Category.CORE)] = Field(
        description="Staff reference of the outreach worker, not their name"
    )
    area_code: Annotated[AreaCode | None, of(Category.COORDINATION)] = None
    bedded_down: Annotated[Flag, of(Category.CORE)] = Field(
        description="Seen bedded down: the CHAIN test of rough sleeping"
    )
    engaged: Annotated[Flag, of(Category.CORE)]
    offered: Annotated[tuple[Offer, ...], of(Category.CORE)] = Field((), max_length=len(Offer))
    accepted: Annotated[tuple[Offer, ...], of(Category.CORE)] = Field((), max_length=len(Offer))

    @model_validator(mode="after")
    def _accepted_was_offered(self) -> ContactDetails:
        extra = set(self.accepted) - set(self.offered) if self.accepted else ()
        if extra:
            raise ValueError(f"accepted includes what was not offered: {sorted(extra)}")
        return self


class ContactPersonal(Strict):
    """The personal part of a contact: name as given, needs, notes, place, next step."""

    known_as: Annotated[PersonName | None, of(Category.CORE)] = None
    name_quality: Annotated[NameQuality, of(Category.CORE)] = NameQuality.UNKNOWN
    aliases: Annotated[tuple[PersonName, ...], of(Category.CORE)] = Field(
        (), max_length=10, description="Other names the person goes by"
    )
    date_of_birth: Annotated[IsoDate | None, of(Category.CORE)] = None
    needs: Annotated[tuple[Need, ...], of(Category.SUPPORT_NEEDS)] = Field((), max_length=len(Need))
    notes: Annotated[LongText | None, of(Category.SUPPORT_NEEDS)] = None
    next_step: Annotated[LongText | None, of(Category.COORDINATION)] = None
    place: Annotated[Place | None, of(Category.CONTACT_DETAILS)] = None


# ---------------------------------------------------------------- emergency beds


class BedType(StrEnum):
    """The kinds of emergency bed a provider offers; a request asks for exactly one kind."""

    GENERAL = "general"
    WOMEN_ONLY = "women_only"
    DOGS_WELCOME = "dogs_welcome"
    ACCESSIBLE = "accessible"
    NO_RECOURSE = "no_recourse_to_public_funds"  # accepts people with no recourse to public funds


# Provider ids are chosen by the provider's organisation ("the-brick-hub"): they key Kafka
# messages and appear in summaries, so they are plain slugs and never personal.
ProviderId = Annotated[str, Field(min_length=2, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class LeaveReason(StrEnum):
    """Why a stay in an emergency bed ended."""

    MOVED_ON = "moved_on"  # to other accommodation
    LEFT = "left"  # chose to leave
    EXCLUDED = "excluded"  # asked to leave by the provider
    HOSPITAL = "hospital"
    CUSTODY = "custody"
    OTHER = "other"


class BedOutcomeDetails(Strict):
    """What happened to one bed request: none of it is personal."""

    request_id: Annotated[UUID, of(Category.COORDINATION)]
    provider_id: Annotated[ProviderId, of(Category.COORDINATION)]
    night: Annotated[date, of(Category.COORDINATION)]
    bed_type: Annotated[BedType, of(Category.COORDINATION)]
    bed: Annotated[int | None, of(Category.COORDINATION)] = Field(
        None, description="Bed number within the provider's beds of this type"
    )
    waitlist_position: Annotated[int | None, of(Category.COORDINATION)] = None
    reason: Annotated[ShortText | None, of(Category.COORDINATION)] = Field(
        None, description="Why refused, waitlisted or released"
    )
    leave_reason: Annotated[LeaveReason | None, of(Category.COORDINATION)] = None


class NoPersonal(Strict):
    """Bed outcomes carry nothing personal beyond the subject's id."""


# ---------------------------------------------------------------- what happens to a report


class ReportOutcome(StrEnum):
    """What outreach found when they went to look (StreetLink's outcome categories)."""

    FOUND_AND_ENGAGED = "found_and_engaged"
    ALREADY_KNOWN = "already_known"
    NOT_FOUND = "not_found"
    NO_LONGER_THERE = "no_longer_there"
    NOT_SLEEPING_ROUGH = "not_sleeping_rough"


class ReportProgress(Strict):
    """A step in a sighting report's life after it was received. Nothing personal: the
    reporter is told the outcome from these fields alone."""

    report_id: Annotated[UUID, of(Category.CORE)]
    team: Annotated[ShortText | None, of(Category.COORDINATION)] = Field(
        None, description="Outreach team the report is routed to or worked by"
    )
    area_code: Annotated[AreaCode | None, of(Category.COORDINATION)] = None
    due_by: Annotated[AwareDatetime | None, of(Category.CORE)] = Field(
        None, description="When the first attempt is due (routing only)"
    )
    outcome: Annotated[ReportOutcome | None, of(Category.CORE)] = None


# ---------------------------------------------------------------- accommodation


class AccommodationDetails(Strict):
    """A move into, through or out of accommodation."""

    provider: Annotated[ShortText | None, of(Category.CORE)] = Field(
        None, description="Landlord or scheme, an organisation's name"
    )
    area_code: Annotated[AreaCode | None, of(Category.COORDINATION)] = None
    to_area: Annotated[AreaCode | None, of(Category.CORE)] = Field(
        None, description="Where a reconnection took the person"
    )


class FreeTextPersonal(Strict):
    """Notes about the person: kept in the personal part, erased with it."""

    notes: Annotated[LongText | None, of(Category.SUPPORT_NEEDS)] = None


# ---------------------------------------------------------------- training and work


class WorkDetails(Strict):
    """A step on a course or in a job."""

    programme: Annotated[ShortText, of(Category.CORE)] = Field(
        description="Course or employer, as the partner names it"
    )
    provider: Annotated[ShortText | None, of(Category.CORE)] = None
    area_code: Annotated[AreaCode | None, of(Category.COORDINATION)] = None


# ---------------------------------------------------------------- statutory duties


class DutyOutcome(StrEnum):
    """How a prevention or relief duty ended (after H-CLIC's outcome groups)."""

    ACCOMMODATION_SECURED = "accommodation_secured"
    HOMELESS = "homeless"  # prevention failed: the person became homeless
    MAIN_DUTY_OWED = "main_duty_owed"  # relief ended without accommodation
    CONTACT_LOST = "contact_lost"
    WITHDREW = "withdrew"
    OTHER = "other"


class DutyDetails(Strict):
    local_authority: Annotated[ShortText, of(Category.CORE)]
    outcome: Annotated[DutyOutcome | None, of(Category.CORE)] = Field(None, description="Required when a duty ends")


# ---------------------------------------------------------------- the case


class CloseReason(StrEnum):
    """Why a case was closed: each takes the person out of the active count."""

    MOVED_AWAY = "moved_away"
    INSTITUTION = "institution"  # prison or hospital for a long stay
    DIED = "died"
    NO_LONGER_MEETS_CRITERIA = "no_longer_meets_criteria"


class CaseDetails(Strict):
    key_worker: Annotated[ShortText | None, of(Category.CORE)] = Field(
        None, description="Staff reference of the key worker"
    )
    organisation: Annotated[ShortText | None, of(Category.CONTACT_POINT)] = Field(
        None, description="Key worker's organisation"
    )
    close_reason: Annotated[CloseReason | None, of(Category.CORE)] = None


class CasePersonal(Strict):
    """Strengths and goals: what matters to the person, in their words; for a walk-in, who they
    said they are (so outreach or the council can find and link the record). Personal."""

    known_as: Annotated[PersonName | None, of(Category.CORE)] = None
    date_of_birth: Annotated[IsoDate | None, of(Category.CORE)] = None
    person_description: Annotated[LongText | None, of(Category.CORE)] = None
    strengths: Annotated[tuple[ShortText, ...], of(Category.STRENGTHS_GOALS)] = Field((), max_length=20)
    goals: Annotated[tuple[ShortText, ...], of(Category.STRENGTHS_GOALS)] = Field((), max_length=20)
    notes: Annotated[LongText | None, of(Category.SUPPORT_NEEDS)] = None


# ---------------------------------------------------------------- identity


class IdentityDetails(Strict):
    """A decision about two person records, made by a person, never by the matcher alone."""

    other: Annotated[UUID, of(Category.CORE)] = Field(description="The other record of the pair")
    reason: Annotated[ShortText | None, of(Category.CORE)] = Field(None, description="Why, in words that name no one")


# ---------------------------------------------------------------- consent


class ConsentEvidence(StrEnum):
    """How the person's consent was obtained (HMIS's Release of Information records the same)."""

    VERBAL = "verbal"  # said to the worker, who recorded it at once
    WRITTEN = "written"  # a signed form, kept by the recording organisation
    DIGITAL = "digital"  # given by the person on a device of the recording organisation


class ConsentDetails(Strict):
    """What the person agreed to share, with whom, until when (given), or which consent they
    took back (withdrawn: one by its event id, or every consent when left out)."""

    obtained: Annotated[ConsentEvidence | None, of(Category.CORE)] = Field(
        None, description="given: how the consent was obtained (required for new consents)")

    organisations: Annotated[tuple[ShortText, ...], of(Category.CORE)] = Field(
        (), max_length=50, description="Organisations the person agreed may see the categories")
    organisation_types: Annotated[tuple[OrganisationType, ...], of(Category.CORE)] = Field(
        (), max_length=len(OrganisationType), description="Kinds of organisation that may see them")
    categories: Annotated[tuple[Category, ...], of(Category.CORE)] = Field((), max_length=len(Category))
    until: Annotated[AwareDatetime | None, IsoText, of(Category.CORE)] = Field(
        None, description="When the consent lapses; null: until withdrawn")
    consent: Annotated[UUID | None, of(Category.CORE)] = Field(
        None, description="withdrawn: the consent.given event withdrawn; null withdraws every consent")


# ---------------------------------------------------------------- referrals


class DeclineReason(StrEnum):
    """Why a referral was declined: said to the referrer, naming no one."""

    NO_CAPACITY = "no_capacity"
    NOT_ELIGIBLE = "not_eligible"
    PERSON_DECLINED = "person_declined"
    ALREADY_SUPPORTED = "already_supported"
    OTHER = "other"


class ReferralDetails(Strict):
    """One agency handing a person to another (made), and the answer (accepted, declined with a
    reason, withdrawn by the referrer, expired). Accepting is what begins the receiver's work
    with the person; what the person agreed to share goes with the referral as their consent."""

    referral: Annotated[UUID | None, of(Category.COORDINATION)] = Field(
        None, description="accepted, declined, withdrawn, expired: the referral.made event answered")
    to_organisation: Annotated[ShortText | None, of(Category.COORDINATION)] = Field(
        None, description="made: the organisation the person is referred to")
    reason: Annotated[ShortText | None, of(Category.COORDINATION)] = Field(
        None, description="made: why, in words for the receiver (no health or offending detail: that goes "
        "in personal.notes, seen only with consent)")
    categories: Annotated[tuple[Category, ...], of(Category.COORDINATION)] = Field(
        (), max_length=len(Category), description="made: what the person agreed the receiver may see once it "
        "accepts (recorded as their consent, obtained by the referrer)")
    consent_obtained: Annotated[ConsentEvidence | None, of(Category.COORDINATION)] = Field(
        None, description="made: how the referrer obtained that consent")
    expires_at: Annotated[AwareDatetime | None, IsoText, of(Category.COORDINATION)] = Field(
        None, description="made: after this the referral can no longer be accepted")
    decline_reason: Annotated[DeclineReason | None, of(Category.COORDINATION)] = None


# ---------------------------------------------------------------- risk of homelessness


class RiskFactor(StrEnum):
    """A sign of homelessness ahead that frontline staff are trained to see ("eyes and ears"),
    after the reasons H-CLIC records for the loss of a settled home."""

    RENT_ARREARS = "rent_arrears"
    MORTGAGE_ARREARS = "mortgage_arrears"
    NOTICE_TO_QUIT = "notice_to_quit"  # a section 21 or section 8 notice, or a landlord asking them to leave
    POSSESSION_ORDER = "possession_order"
    ASKED_TO_LEAVE = "asked_to_leave"  # family or friends no longer able or willing to accommodate
    RELATIONSHIP_BREAKDOWN = "relationship_breakdown"
    DOMESTIC_ABUSE = "domestic_abuse"
    LEAVING_PRISON = "leaving_prison"
    LEAVING_HOSPITAL = "leaving_hospital"
    LEAVING_CARE = "leaving_care"
    SOFA_SURFING = "sofa_surfing"
    LOSS_OF_INCOME = "loss_of_income"


# Which kind of information each factor is: the policy shows a factor only where its category is
# seen (abuse is a support need, prison offending, hospital health).
RISK_FACTOR_CATEGORY: dict[RiskFactor, Category] = {
    **{factor: Category.CORE for factor in RiskFactor},
    RiskFactor.DOMESTIC_ABUSE: Category.SUPPORT_NEEDS,
    RiskFactor.LEAVING_PRISON: Category.OFFENDING,
    RiskFactor.LEAVING_HOSPITAL: Category.HEALTH,
    RiskFactor.LEAVING_CARE: Category.SUPPORT_NEEDS,
}


class RiskUrgency(StrEnum):
    """How soon: the Homelessness Reduction Act's threat of homelessness is within 56 days."""

    WITHIN_56_DAYS = "within_56_days"
    HOMELESS_NOW = "homeless_now"


class RiskDetails(Strict):
    """What a risk of homelessness report says that is not personal. With the person's consent,
    it is their referral to the housing authority they chose (the duty to refer)."""

    urgency: Annotated[RiskUrgency, of(Category.CORE)]
    consent_to_refer: Annotated[Flag, of(Category.CORE)] = Field(
        description="The person agreed to be referred to the housing authority (the duty to refer needs it)")
    consent_obtained: Annotated[ConsentEvidence | None, of(Category.CORE)] = Field(
        None, description="How that consent was obtained (required with consent)")
    housing_authority: Annotated[ShortText | None, of(Category.COORDINATION)] = Field(
        None, description="The housing authority the person chose; null: the housing options team for the area "
        "(HOUSING_AUTHORITIES)")
    area_code: Annotated[AreaCode | None, of(Category.COORDINATION)] = None
    referring_service: Annotated[ShortText | None, of(Category.CORE)] = Field(
        None, description="The service that saw the signs, e.g. probation, a hospital ward, a job centre")


class RiskPersonal(Strict):
    """The personal part of a risk report: who, the signs seen, how to reach the person and the
    reporter. Each factor is shown only where its own category is seen (RISK_FACTOR_CATEGORY)."""

    known_as: Annotated[PersonName | None, of(Category.CORE)] = None
    date_of_birth: Annotated[IsoDate | None, of(Category.CORE)] = None
    person_description: Annotated[LongText | None, of(Category.CORE)] = None
    factors: Annotated[tuple[RiskFactor, ...], of(Category.CORE)] = Field((), max_length=len(RiskFactor))
    contact: Annotated[ReporterContact | None, of(Category.CONTACT_DETAILS)] = Field(
        None, description="How the housing team can reach the person")
    notes: Annotated[LongText | None, of(Category.SUPPORT_NEEDS)] = None
    reporter: Annotated[ReporterContact | None, of(Category.REPORTER)] = Field(
        None, description="How to reach the frontline member who reported, for the answer")


# ---------------------------------------------------------------- the envelope


class Envelope(Strict):
    """Attributes every event carries, whatever its family."""

    id: UUID
    type: str
    schema_version: int
    source: ShortText = Field(description="Organisation that recorded the event")
    actor: ShortText = Field(description="Member (or system component) that recorded it")
    subject: UUID | None = Field(None, description="Person the event is about; set by identity")
    time: AwareDatetime = Field(description="When it happened")
    recorded_at: AwareDatetime = Field(description="When the platform accepted it")
    sealed: tuple[SealedPart, ...] = Field(
        (), description="The personal part, sealed with data keys (schemas/sealed.py); `personal` is then empty")


class ReportReceived(Envelope):
    type: Literal["report.received"] = "report.received"
    schema_version: Literal[1] = 1
    data: ReportDetails
    personal: ReportPersonal


class ContactRecorded(Envelope):
    type: Literal["contact.recorded"] = "contact.recorded"
    schema_version: Literal[1] = 1
    data: ContactDetails
    personal: ContactPersonal


BedOutcomeType = Literal[
    "bed.allocated", "bed.waitlisted", "bed.refused", "bed.checked_in", "bed.no_show", "bed.checked_out",
    "bed.withdrawn",
]


class BedOutcome(Envelope):
    """A decision or a change about a person's bed: decided by the beds agents, not submitted."""

    type: BedOutcomeType
    schema_version: Literal[1] = 1
    data: BedOutcomeDetails
    personal: NoPersonal = NoPersonal()


class ReportProgressed(Envelope):
    """Routed by the stream; attempted, outcome and reporter told recorded by outreach."""

    type: Literal["report.routed", "report.attempted", "report.outcome", "report.reporter_told"]
    schema_version: Literal[1] = 1
    data: ReportProgress
    personal: NoPersonal = NoPersonal()


class AccommodationRecorded(Envelope):
    type: Literal[
        "accommodation.supported_housing_entered", "accommodation.tenancy_started",
        "accommodation.tenancy_sustained_6_months", "accommodation.tenancy_sustained_12_months",
        "accommodation.evicted", "accommodation.abandoned", "accommodation.reconnected",
    ]
    schema_version: Literal[1] = 1
    data: AccommodationDetails
    personal: FreeTextPersonal = FreeTextPersonal()


class WorkRecorded(Envelope):
    type: Literal[
        "work.course_enrolled", "work.session_attended", "work.course_completed", "work.course_left",
        "work.job_started", "work.job_sustained_13_weeks", "work.job_sustained_26_weeks", "work.job_left",
    ]
    schema_version: Literal[1] = 1
    data: WorkDetails
    personal: FreeTextPersonal = FreeTextPersonal()


class DutyRecorded(Envelope):
    type: Literal["duty.prevention_started", "duty.prevention_ended", "duty.relief_started", "duty.relief_ended"]
    schema_version: Literal[1] = 1
    data: DutyDetails
    personal: FreeTextPersonal = FreeTextPersonal()


class CaseRecorded(Envelope):
    type: Literal["case.key_worker_assigned", "case.strengths_recorded", "case.closed", "case.reopened",
                  "case.walked_in"]
    schema_version: Literal[1] = 1
    data: CaseDetails
    personal: CasePersonal = CasePersonal()


class IdentityChanged(Envelope):
    """merged: this record was merged into `other`; absorbed: `other` was merged into this one;
    merge_undone: the merge between the two was undone; linked: the same person, records kept
    apart; split: two different people, never to be proposed as a match again."""

    type: Literal["identity.merged", "identity.absorbed", "identity.merge_undone", "identity.linked",
                  "identity.split"]
    schema_version: Literal[1] = 1
    data: IdentityDetails
    personal: NoPersonal = NoPersonal()


class ConsentRecorded(Envelope):
    """The person's consent to share, as recorded by whoever asked them; it rules reads at once."""

    type: Literal["consent.given", "consent.withdrawn"]
    schema_version: Literal[1] = 1
    data: ConsentDetails
    personal: FreeTextPersonal = FreeTextPersonal()


class RiskReported(Envelope):
    """Frontline staff saw signs that a person may become homeless ("eyes and ears")."""

    type: Literal["risk.reported"] = "risk.reported"
    schema_version: Literal[1] = 1
    data: RiskDetails
    personal: RiskPersonal


class ReferralRecorded(Envelope):
    """A referral made to another organisation, or its answer."""

    type: Literal["referral.made", "referral.accepted", "referral.declined", "referral.withdrawn",
                  "referral.expired"]
    schema_version: Literal[1] = 1
    data: ReferralDetails
    personal: FreeTextPersonal = FreeTextPersonal()


Event = Annotated[
    ReportReceived | ContactRecorded | BedOutcome | ReportProgressed | AccommodationRecorded | WorkRecorded
    | DutyRecorded | CaseRecorded | IdentityChanged | ConsentRecorded | ReferralRecorded | RiskReported,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
# Every event type name, from the union's members' `type` literals.
EVENT_TYPES: tuple[str, ...] = tuple(sorted(
    name for member in get_args(get_args(Event)[0]) for name in get_args(member.model_fields["type"].annotation)))


class UndecodableEvent(ValueError):
    """A message that is not a valid event. The reason names fields, never their values."""


def describe_errors(error: ValidationError) -> str:
    """Field locations and error kinds only: pydantic's own text would echo personal input."""
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in item["loc"]) or "(root)"
        parts.append(f"{loc}: {item['type']}")
    return "; ".join(parts[:10])


def decoder(target: type[BaseModel] | TypeAdapter[Any]) -> Callable[[bytes], Any]:
    """A parser of JSON bytes into `target` that fails with UndecodableEvent and a safe reason."""
    adapter = target if isinstance(target, TypeAdapter) else TypeAdapter(target)

    def decode(raw: bytes) -> Any:
        try:
            return adapter.validate_json(raw)
        except ValidationError as error:
            raise UndecodableEvent(describe_errors(error)) from None

    return decode


def decode_event(raw: bytes) -> Event:
    """Parse one event from its JSON bytes, upcasting older schema versions first."""
    try:
        return EVENT_ADAPTER.validate_json(raw)
    except ValidationError as first_error:
        try:
            document = json.loads(raw)
        except ValueError:
            raise UndecodableEvent("not JSON") from None
        if not isinstance(document, dict):
            raise UndecodableEvent("not a JSON object") from None
        upcast = _upcast(document)
        if upcast is document:
            raise UndecodableEvent(describe_errors(first_error)) from None
        try:
            return EVENT_ADAPTER.validate_python(upcast)
        except ValidationError as error:
            raise UndecodableEvent(describe_errors(error)) from None


# Upcasters turn an older (type, schema_version) document into the next version. Version 1 is
# the first of every family, so the table is empty; a new version adds its upcaster here.
UPCASTERS: dict[tuple[str, int], Any] = {}


def _upcast(document: dict[str, Any]) -> dict[str, Any]:
    key = (document.get("type"), document.get("schema_version"))
    while key in UPCASTERS:
        document = UPCASTERS[key](document)
        key = (document.get("type"), document.get("schema_version"))
    return document


def opened_event(event: Event, keys: Mapping[str, Any]) -> Event:
    """The event with its personal part opened by `keys` (what a destroyed key sealed is left
    out). Only for deciding something in the worker: what it sends on stays sealed."""
    if not event.sealed:
        return event
    fields = opened(event.id, stored_form(event.sealed), keys)
    personal = type(event.personal).model_validate(fields)
    return event.model_copy(update={"personal": personal, "sealed": ()})


def encode_event(event: Event) -> bytes:
    return event.model_dump_json().encode()
