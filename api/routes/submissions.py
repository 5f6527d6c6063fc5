"""POST /v1/reports and /v1/contacts: 202 once the event is in Kafka."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, status

from api.deps import EngineDep, ProducerDep, SettingsDep, allow
from api.intake import IdempotencyConflict, submit
from api.keys import Principal, Role
from api.producer import NotAccepted
from schemas.submissions import Accepted, ContactSubmission, ReportSubmission

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


def _accept(submission: ReportSubmission | ContactSubmission, key: str | None, principal: Principal,
            engine: EngineDep, producer: ProducerDep, settings: SettingsDep) -> Accepted:
    try:
        return submit(
            submission, idempotency_key=key, principal=principal, engine=engine,
            producer=producer, settings=settings, now=datetime.now(UTC),
        )
    except IdempotencyConflict as conflict:
        raise HTTPException(status.HTTP_409_CONFLICT, str(conflict)) from None
    except NotAccepted as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the event was not acknowledged by Kafka ({error}); retry with the same Idempotency-Key",
        ) from None


@router.post("/reports", status_code=status.HTTP_202_ACCEPTED)
def post_report(submission: ReportSubmission, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
                idempotency_key: IdempotencyKey = None, principal: Principal = REPORTERS) -> Accepted:
    """Report someone seen sleeping rough."""
    return _accept(submission, idempotency_key, principal, engine, producer, settings)


@router.post("/contacts", status_code=status.HTTP_202_ACCEPTED)
def post_contact(submission: ContactSubmission, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
                 idempotency_key: IdempotencyKey = None, principal: Principal = OUTREACH) -> Accepted:
    """Record an outreach contact."""
    return _accept(submission, idempotency_key, principal, engine, producer, settings)
