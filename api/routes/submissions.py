"""Submissions of every event family: 202 once the event is in Kafka."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, status
from starlette.concurrency import run_in_threadpool

from api.claims import IdempotencyConflict
from api.deps import EngineDep, ProducerDep, SettingsDep, allow
from api.intake import submit
from api.producer import NotAccepted
from api.reports import find_report, overdue_reports, report_status
from journey import policy
from journey.state import Journey
from readmodel.keys import Principal, Role
from readmodel.sharing import NotVisible, disclosed_risk_reports, writable
from schemas.events import ReportProgress
from schemas.submissions import (
    Accepted,
    AccommodationSubmission,
    CaseSubmission,
    ConsentSubmission,
    ContactSubmission,
    DutySubmission,
    ReportProgressSubmission,
    ReportStatus,
    ReportStep,
    ReportSubmission,
    RiskReportSubmission,
    Submission,
    WalkInSubmission,
    WorkSubmission,
)
from schemas.views import RiskReportView

router = APIRouter(prefix="/v1", tags=["submissions"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retrying with the same key returns the first answer and records nothing new",
    ),
]
REPORTERS = allow(Role.OUTREACH, Role.FRONTLINE, Role.POLICE, Role.COUNCIL, Role.CHARITY, Role.PUBLIC)
OUTREACH = allow(Role.OUTREACH)
HOUSING = allow(Role.COUNCIL, Role.CHARITY, Role.OUTREACH, Role.HOUSING_PROVIDER)
TRAINING = allow(Role.CHARITY, Role.COUNCIL)
COUNCIL = allow(Role.COUNCIL)
CASEWORK = allow(Role.OUTREACH, Role.COUNCIL, Role.CHARITY, Role.HOUSING_PROVIDER, Role.HEALTH)
REPORT_WORKERS = allow(Role.OUTREACH, Role.COUNCIL)
# Eyes and ears: whoever meets people in their work may report signs of homelessness ahead.
RISK_REPORTERS = allow(Role.FRONTLINE, Role.OUTREACH, Role.COUNCIL, Role.CHARITY, Role.HEALTH, Role.POLICE,
                       Role.HOUSING_PROVIDER)


# A rule a route adds to "a write needs the right to see": given the person's journey as the
# worker has applied it so far, why this member may not record this (403), or None.
Rule = Callable[[Journey | None], str | None]


async def accept(submission: Submission, key: str | None, principal: Principal,
           engine: EngineDep, producer: ProducerDep, settings: SettingsDep, *, rule: Rule | None = None,
           admitted_by_referral: bool = False, **destination: Any) -> Accepted:
    """Put the submission on the intake once, if its writer may record it. A write about an
    existing person needs the right to see them (otherwise 404, as for a read); `rule` adds
    what the family needs (403 with the reason). The one exception is the answer to a referral
    made to the writer (`admitted_by_referral`, checked by api/routes/referrals.py).

    The routes that accept are `async def`: the checks that read the read model run in a
    thread, the rest (sealing, the claim, Kafka's acknowledgement) is awaited in the event loop.
    A plain `def` route took a thread for each request, and answering through threads cost half
    of one process's rate."""
    now = datetime.now(UTC)
    if submission.person_id is not None and not admitted_by_referral:
        try:
            journey = await run_in_threadpool(writable, engine, principal, submission.person_id, now)
        except NotVisible:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such person for this organisation") from None
        if rule is not None and (refusal := rule(journey)):
            raise HTTPException(status.HTTP_403_FORBIDDEN, refusal)
    try:
        return await submit(
            submission, idempotency_key=key, principal=principal, engine=engine,
            producer=producer, settings=settings, now=now, **destination,
        )
    except IdempotencyConflict as conflict:
        raise HTTPException(status.HTTP_409_CONFLICT, str(conflict)) from None
    except NotAccepted as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the event was not acknowledged by Kafka ({error}); retry with the same Idempotency-Key",
        ) from None


@router.post("/reports", status_code=status.HTTP_202_ACCEPTED)
async def post_report(submission: ReportSubmission, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
                idempotency_key: IdempotencyKey = None, principal: Principal = REPORTERS) -> Accepted:
    """Report someone seen sleeping rough. Only organisations that work with people may say who
    the report is about (person_id): the public and frontline reporters may not (422)."""
    if submission.person_id is not None and principal.role in (Role.PUBLIC, Role.FRONTLINE):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", "person_id"], "type": "value_error",
            "msg": f"a {principal.role.value} report cannot name a known person; describe who was seen instead"}])
    return await accept(submission, idempotency_key, principal, engine, producer, settings)


@router.post("/risk-reports", status_code=status.HTTP_202_ACCEPTED)
async def post_risk_report(submission: RiskReportSubmission, engine: EngineDep, producer: ProducerDep,
                     settings: SettingsDep, idempotency_key: IdempotencyKey = None,
                     principal: Principal = RISK_REPORTERS) -> Accepted:
    """Report signs that someone may become homeless. With the person's consent it becomes their
    referral to the housing authority (the duty to refer); without it, the report stays with your
    organisation and nobody else sees the person. Frontline staff may not name a known person
    (person_id): describe who instead."""
    if submission.person_id is not None and principal.role is Role.FRONTLINE:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", "person_id"], "type": "value_error",
            "msg": "a frontline report cannot name a known person; say who they are instead"}])
    return await accept(submission, idempotency_key, principal, engine, producer, settings)


@router.get("/risk-reports")
def get_risk_reports(engine: EngineDep, principal: Principal = RISK_REPORTERS) -> list[RiskReportView]:
    """The risk reports your organisation made, newest first, with what became of each: its
    duty-to-refer referral's answer (nothing more of the person)."""
    return disclosed_risk_reports(engine, principal, datetime.now(UTC))


@router.post("/contacts", status_code=status.HTTP_202_ACCEPTED)
async def post_contact(submission: ContactSubmission, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
                 idempotency_key: IdempotencyKey = None, principal: Principal = OUTREACH) -> Accepted:
    """Record an outreach contact."""
    return await accept(submission, idempotency_key, principal, engine, producer, settings)


@router.post("/accommodation", status_code=status.HTTP_202_ACCEPTED)
async def post_accommodation(submission: AccommodationSubmission, engine: EngineDep, producer: ProducerDep,
                       settings: SettingsDep, idempotency_key: IdempotencyKey = None,
                       principal: Principal = HOUSING) -> Accepted:
    """Supported housing entered, tenancy started or sustained (6 and 12 months), eviction,
    abandonment, or a reconnection to another area."""
    return await accept(submission, idempotency_key, principal, engine, producer, settings)


@router.post("/work", status_code=status.HTTP_202_ACCEPTED)
async def post_work(submission: WorkSubmission, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
              idempotency_key: IdempotencyKey = None, principal: Principal = TRAINING) -> Accepted:
    """Training and work: course enrolled, session attended, completed or left; job started,
    sustained at 13 and 26 weeks, or left."""
    return await accept(submission, idempotency_key, principal, engine, producer, settings)


@router.post("/duties", status_code=status.HTTP_202_ACCEPTED)
async def post_duty(submission: DutySubmission, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
              idempotency_key: IdempotencyKey = None, principal: Principal = COUNCIL) -> Accepted:
    """A statutory prevention or relief duty started, or ended with its outcome."""
    return await accept(submission, idempotency_key, principal, engine, producer, settings)


@router.post("/cases", status_code=status.HTTP_202_ACCEPTED)
async def post_case(submission: CaseSubmission, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
              idempotency_key: IdempotencyKey = None, principal: Principal = CASEWORK) -> Accepted:
    """Key worker assigned, strengths and goals recorded, case closed (with the reason) or reopened.
    Only outreach, the council or the current key worker's organisation assign a key worker.
    Only the key worker's organisation or the council may close a case; with no key worker, an
    organisation that works with the person; a death only the council records. Others get 403.
    The check reads the journey as the worker has applied it so far: a key worker assigned a
    moment ago may not count yet, and a retry then succeeds."""

    def rule(journey: Journey | None) -> str | None:
        if submission.what == "key_worker_assigned" and not policy.may_assign_key_worker(principal.viewer, journey):
            return "only outreach, the council or the current key worker's organisation may assign a key worker"
        reason = submission.details.close_reason
        if submission.what == "closed" and not policy.may_close_case(principal.viewer, journey, reason or ""):
            if reason == "died":
                return "a death is recorded or confirmed by the council"
            return ("only the key worker's organisation or the council may close this case (a key worker "
                    "assigned a moment ago may not be applied yet: retry)")
        return None

    return await accept(submission, idempotency_key, principal, engine, producer, settings, rule=rule)


@router.post("/cases/walk-ins", status_code=status.HTTP_202_ACCEPTED)
async def post_walk_in(submission: WalkInSubmission, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
                 idempotency_key: IdempotencyKey = None, principal: Principal = CASEWORK) -> Accepted:
    """Someone walked in who is not known to the organisation: a new person record (the answer's
    person_id), which the organisation works with. Outreach or the council link it to a record
    they hold (POST /v1/identity/merges), and the organisation keeps working with the person.
    A person the organisation already knows of is referred to it instead."""
    return await accept(submission, idempotency_key, principal, engine, producer, settings)


@router.post("/consents", status_code=status.HTTP_202_ACCEPTED)
async def post_consent(submission: ConsentSubmission, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
                 idempotency_key: IdempotencyKey = None, principal: Principal = CASEWORK) -> Accepted:
    """The person's consent to share, given (saying how it was obtained) or withdrawn, recorded by
    an organisation that works with the person (others: 403). It rules every read (and every push
    to partners) once the worker has applied it. Recording it begins no relationship."""

    def rule(journey: Journey | None) -> str | None:
        if not policy.may_record_consent(principal.viewer, journey):
            return "only an organisation that works with the person records their consent"
        return None

    return await accept(submission, idempotency_key, principal, engine, producer, settings, rule=rule)


@router.post("/reports/{report_id}/steps", status_code=status.HTTP_202_ACCEPTED)
async def post_report_step(report_id: UUID, step: ReportStep, engine: EngineDep, producer: ProducerDep,
                     settings: SettingsDep, idempotency_key: IdempotencyKey = None,
                     principal: Principal = REPORT_WORKERS) -> Accepted:
    """Outreach went to look (attempted), found an outcome, or told the reporter: recorded by the
    team the report was routed to (or the council). The team is the caller's organisation; a
    report routed to another team is not found (404), as is one not routed yet."""
    report = await run_in_threadpool(find_report, engine, report_id)
    if report is None or not policy.may_work_report(principal.viewer, report.team):
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            "no such report for this team (a new report takes a moment to arrive and be routed)")
    team = report.team if principal.role is Role.COUNCIL else principal.organisation
    if step.team is not None and step.team != team:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", "team"], "type": "value_error",
            "msg": "is the team the report was routed to, the caller's own; leave it out"}])
    submission = ReportProgressSubmission(
        event_id=step.event_id, person_id=UUID(report.person_id), occurred_at=step.occurred_at, what=step.what,
        details=ReportProgress(report_id=report_id, team=team, outcome=step.outcome),
    )
    return await accept(submission, idempotency_key, principal, engine, producer, settings)


@router.get("/reports/overdue")
def get_overdue(engine: EngineDep, principal: Principal = REPORT_WORKERS) -> list[ReportStatus]:
    """Reports whose target time to the first attempt has passed with no attempt, oldest first."""
    return overdue_reports(engine, now=datetime.now(UTC))


@router.get("/reports/{report_id}")
def get_report(report_id: UUID, engine: EngineDep, principal: Principal = REPORTERS) -> ReportStatus:
    """What happened to a report, without personal detail: for the reporting organisation,
    outreach and the council."""
    report = find_report(engine, report_id)
    allowed = principal.role in (Role.OUTREACH, Role.COUNCIL) or principal.organisation == (
        report.organisation if report else None)
    if report is None or not allowed:
        # The same answer for "not yours" as for "not there": a report id says nothing about others'.
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report for this organisation")
    return report_status(report, now=datetime.now(UTC))
