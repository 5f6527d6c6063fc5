"""Domain events for tests: one builder per event family, each about one person at one moment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from schemas.events import (
    AccommodationDetails,
    AccommodationRecorded,
    BedOutcome,
    BedOutcomeDetails,
    CaseDetails,
    CasePersonal,
    CaseRecorded,
    ContactDetails,
    ContactPersonal,
    ContactRecorded,
    DutyDetails,
    DutyRecorded,
    IdentityChanged,
    IdentityDetails,
    ReportDetails,
    ReportPersonal,
    ReportProgress,
    ReportProgressed,
    ReportReceived,
    WorkDetails,
    WorkRecorded,
)

T0 = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)


def _envelope(person: uuid.UUID | None, at: datetime) -> dict:
    return {"id": uuid.uuid4(), "source": "org", "actor": "key", "subject": person, "time": at, "recorded_at": at}


def report(person: uuid.UUID | None, at: datetime, area: str = "TC-MARKET") -> ReportReceived:
    return ReportReceived(**_envelope(person, at), data=ReportDetails(channel="public", area_code=area),
                          personal=ReportPersonal())


def progress(person: uuid.UUID, at: datetime, step: str, report_id: uuid.UUID, **data: object) -> ReportProgressed:
    return ReportProgressed(**_envelope(person, at), type=f"report.{step}",
                            data=ReportProgress(report_id=report_id, **data))


def contact(person: uuid.UUID, at: datetime, *, engaged: bool = True, bedded_down: bool = True,
            area: str = "TC-MARKET") -> ContactRecorded:
    return ContactRecorded(**_envelope(person, at), data=ContactDetails(
        team="TCO", worker="W1", bedded_down=bedded_down, engaged=engaged, area_code=area), personal=ContactPersonal())


def accommodation(person: uuid.UUID, at: datetime, step: str) -> AccommodationRecorded:
    return AccommodationRecorded(**_envelope(person, at), type=f"accommodation.{step}",
                                 data=AccommodationDetails(to_area="ELSEWHERE" if step == "reconnected" else None))


def work(person: uuid.UUID, at: datetime, step: str) -> WorkRecorded:
    return WorkRecorded(**_envelope(person, at), type=f"work.{step}", data=WorkDetails(programme="Kitchen skills"))


def duty(person: uuid.UUID, at: datetime, step: str) -> DutyRecorded:
    ended = step.endswith("ended")
    return DutyRecorded(**_envelope(person, at), type=f"duty.{step}",
                        data=DutyDetails(local_authority="Wigan", outcome="accommodation_secured" if ended else None))


def case(person: uuid.UUID, at: datetime, step: str) -> CaseRecorded:
    details = {"key_worker_assigned": CaseDetails(key_worker="KW1"), "closed": CaseDetails(close_reason="moved_away")}
    personal = CasePersonal(strengths=("cooking",)) if step == "strengths_recorded" else CasePersonal()
    return CaseRecorded(**_envelope(person, at), type=f"case.{step}", data=details.get(step, CaseDetails()),
                        personal=personal)


def bed(person: uuid.UUID, at: datetime, step: str) -> BedOutcome:
    return BedOutcome(**_envelope(person, at), type=f"bed.{step}", data=BedOutcomeDetails(
        request_id=uuid.uuid4(), provider_id="hub", night=at.date(), bed_type="general", bed=1))


def identity(person: uuid.UUID, other: uuid.UUID, step: str, at: datetime = T0) -> IdentityChanged:
    return IdentityChanged(**_envelope(person, at), type=f"identity.{step}", data=IdentityDetails(other=other))
