"""What clients submit to the API, and what the API answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Generic, TypeVar
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, model_validator

from deploy.settings import get_settings
from schemas.common import Strict
from schemas.events import ContactDetails, ContactPersonal, ReportDetails, ReportPersonal


def _not_in_future(moment: datetime) -> datetime:
    # Only submissions are checked against the clock: replaying stored events must never fail
    # because time has moved on.
    limit = datetime.now(UTC) + timedelta(seconds=get_settings().clock_skew_s)
    if moment > limit:
        raise ValueError("is in the future")
    return moment


SubmittedTime = Annotated[AwareDatetime, AfterValidator(_not_in_future)]

D = TypeVar("D", bound=BaseModel)
P = TypeVar("P", bound=BaseModel)


class Submission(Strict, Generic[D, P]):
    """One event as a client submits it: when it happened, what, and the personal part apart."""

    event_id: UUID | None = Field(
        None, description="Client-chosen event id; a retry with the same id produces nothing new"
    )
    person_id: UUID | None = Field(None, description="The person, when the submitter knows them")
    occurred_at: SubmittedTime = Field(description="When it happened, with a timezone")
    details: D
    personal: P


class ReportSubmission(Submission[ReportDetails, ReportPersonal]):
    """A sighting report: someone seen sleeping rough, by the public, staff, police or themself."""

    @model_validator(mode="after")
    def _somewhere(self) -> ReportSubmission:
        place = self.personal.place
        located = place is not None and (
            place.description or (place.latitude is not None and place.longitude is not None)
        )
        if not (self.details.area_code or located):
            raise ValueError("a report needs details.area_code or personal.place (coordinates or description)")
        return self


class ContactSubmission(Submission[ContactDetails, ContactPersonal]):
    """An outreach contact with a person."""


class Accepted(BaseModel):
    """Answer to a submission: the event is in Kafka under this id."""

    event_id: UUID
    person_id: UUID | None = None
    duplicate: bool = Field(False, description="True when this repeats an earlier submission")
