"""Messages of the emergency-beds agents: commands to a provider, and what the agents publish.

bed-requests  (keyed by person)    BedRequested from the API, BedOutcome back from providers
bed-commands  (keyed by provider)  every command a provider's agent decides on
bed-updates   (keyed by provider)  the live picture of a provider's nights, for the read model
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter, model_validator

from schemas.common import AreaCode, Count, IsoDate, ShortText, Strict
from schemas.events import BedOutcome, BedType, LeaveReason, ProviderId, decoder


class ProviderKind(StrEnum):
    HOSTEL = "hostel"
    HUB = "hub"
    NIGHT_SHELTER = "night_shelter"


class CapacityChange(StrEnum):
    """How a provider's beds change: for good from a night, or for a few nights."""

    OPENED = "opened"  # beds added from first_night (until last_night, if given)
    CLOSED = "closed"  # beds taken away from first_night (until last_night, if given)
    REDUCED = "reduced"  # beds out of use for a while: last_night is required


class BedCommand(Strict):
    """What every command to a provider's agent carries."""

    id: UUID
    provider_id: ProviderId
    source: ShortText = Field(description="Organisation that sent the command")
    actor: ShortText = Field(description="API key (or system component) that sent it")
    time: AwareDatetime = Field(description="When the platform accepted it")


class ProviderRegistered(BedCommand):
    type: Literal["provider.registered"] = "provider.registered"
    name: ShortText
    kind: ProviderKind
    area_code: AreaCode
    no_show_release: time = Field(
        description="Local time on the night when an allocated bed not checked into is released"
    )
    waitlist_limit: int = Field(ge=0, le=500)


class CapacityFields(Strict):
    """A change of capacity as its provider states it.

    Rules across fields: `reduced` needs `last_night`; `last_night` is not before `first_night`."""

    change: CapacityChange
    bed_type: BedType
    beds: Count = Field(ge=1, le=1000)
    first_night: IsoDate
    last_night: IsoDate | None = None

    @model_validator(mode="after")
    def _nights_make_sense(self) -> CapacityFields:
        if self.change is CapacityChange.REDUCED and self.last_night is None:
            raise ValueError("a temporary reduction needs last_night")
        if self.last_night is not None and self.last_night < self.first_night:
            raise ValueError("last_night is before first_night")
        return self


class CapacityChanged(BedCommand, CapacityFields):
    type: Literal["capacity.changed"] = "capacity.changed"


class BedRequested(BedCommand):
    """A bed for a person on a night at a provider. Its id is the request id."""

    type: Literal["bed.requested"] = "bed.requested"
    person_id: UUID
    night: date
    bed_type: BedType


class StayCommand(BedCommand):
    """Something the provider records about an allocated bed."""

    type: Literal["bed.check_in", "bed.no_show", "bed.check_out", "bed.withdraw"]
    request_id: UUID
    night: date
    leave_reason: LeaveReason | None = None


# ---------------------------------------------------------------- what clients submit


class ProviderRegistration(Strict):
    """A provider of emergency beds, registered by the organisation that runs it."""

    provider_id: ProviderId
    name: ShortText
    kind: ProviderKind
    area_code: AreaCode
    no_show_release: time | None = Field(None, description="Default: BED_NO_SHOW_RELEASE")
    waitlist_limit: Count | None = Field(None, ge=0, le=500, description="Default: BED_WAITLIST_LIMIT")


class BedRequestSubmission(Strict):
    """A bed for a person on a night. Retrying with the same request_id asks only once."""

    request_id: UUID | None = Field(None, description=(
        "The client's own id for this request: a retry with the same id asks only once. It is this organisation's "
        "token, not the request's id (the answer's request_id, used to read and change it)"))
    person_id: UUID
    provider_id: ProviderId
    night: IsoDate | None = Field(None, description="Default: tonight (nights run noon to noon, local time)")
    bed_type: BedType = BedType.GENERAL


class CheckOut(Strict):
    leave_reason: LeaveReason | None = None


class RequestAccepted(BaseModel):
    request_id: UUID
    night: date
    duplicate: bool = Field(False, description="True when this request id was accepted before: nothing new was sent")


ProviderCommand = Annotated[
    ProviderRegistered | CapacityChanged | BedRequested | StayCommand, Field(discriminator="type")
]
ClaimStatus = Literal["pending", "waitlisted", "allocated", "checked_in"]


class Claim(BaseModel):
    """A person's hold on one night: a request in flight, a waitlist place or a bed."""

    model_config = {"frozen": True}

    request_id: UUID
    provider_id: str
    status: ClaimStatus


class RecordMerged(BaseModel):
    """From the identity step to a record's bed stage: the record was merged into another (its
    requests and claims go to that one from now on), or that merge was undone."""

    model_config = {"frozen": True}

    type: Literal["person.merged", "person.merge_undone"]
    id: UUID
    person_id: UUID
    into: UUID
    time: AwareDatetime


class NightsJoined(BaseModel):
    """From a merged record's bed stage to the kept record's: the nights it held."""

    model_config = {"frozen": True}

    type: Literal["person.nights_joined"] = "person.nights_joined"
    id: UUID
    person_id: UUID = Field(description="The kept record")
    merged: UUID = Field(description="The record merged into it")
    claims: dict[date, Claim]
    released: tuple[UUID, ...] = Field((), description="Requests of the merged record no longer held")
    time: AwareDatetime


PersonBedMessage = Annotated[BedRequested | BedOutcome | RecordMerged | NightsJoined, Field(discriminator="type")]

decode_command: Callable[[bytes], ProviderCommand] = decoder(TypeAdapter(ProviderCommand))
decode_person_message: Callable[[bytes], PersonBedMessage] = decoder(TypeAdapter(PersonBedMessage))


# ---------------------------------------------------------------- the live picture


class ProviderInfo(BaseModel):
    """A provider as registered: who runs it, where, and its rules."""

    model_config = {"frozen": True}

    provider_id: str
    organisation: str
    name: str
    kind: ProviderKind
    area_code: str
    no_show_release: time
    waitlist_limit: int


class CapacityWindow(BaseModel):
    """Beds of one type added (positive) or taken away (negative) over a run of nights."""

    model_config = {"frozen": True, "extra": "forbid"}

    bed_type: BedType
    beds: int
    first_night: date
    last_night: date | None = None

    def covers(self, night: date) -> bool:
        return self.first_night <= night and (self.last_night is None or night <= self.last_night)


class BedCount(BaseModel):
    """One provider's beds of one type on one night."""

    model_config = {"frozen": True}

    bed_type: BedType
    capacity: int
    allocated: int = Field(description="Allocated and not yet checked into")
    checked_in: int
    free: int
    waitlisted: int


class NightPicture(BaseModel):
    model_config = {"frozen": True}

    night: date
    beds: tuple[BedCount, ...]


class CommandRefused(BaseModel):
    """A stay command the provider's stage could not apply, and why: the API accepted it against
    a read model that trailed the stage (a bed released by the no-show timer a moment before a
    check-in, say), so the refusal is published rather than dropped."""

    model_config = {"frozen": True}

    command_id: UUID
    request_id: UUID
    command: str
    reason: str
    at: AwareDatetime


class BedUpdate(BaseModel):
    """What a provider's agent publishes after a batch: its picture and every outcome decided."""

    provider_id: str
    sequence: int = Field(description="The provider state's sequence: a redelivered older update is ignored")
    provider: ProviderInfo | None
    capacity: tuple[CapacityWindow, ...] = ()
    nights: tuple[NightPicture, ...] = ()
    outcomes: tuple[BedOutcome, ...] = ()
    refused: tuple[CommandRefused, ...] = ()
