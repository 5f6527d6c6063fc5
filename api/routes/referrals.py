"""Referrals: the one door into a person's record for an organisation that does not work with
them yet. Made by an organisation that works with the person (or outreach, or the council) to a
named organisation; accepted or declined by that organisation; withdrawn by its maker. Accepting
begins the receiver's relationship, and with it what the person agreed to share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, ProducerDep, SettingsDep, allow
from api.routes.submissions import IdempotencyKey, accept
from journey import policy
from journey.state import Journey
from readmodel.keys import Principal
from readmodel.referrals import Answer, ReferralRefused, answer_submission, referrals_of
from readmodel.sharing import disclosed_referrals
from readmodel.tables import organisations
from schemas.events import ReferralDetails
from schemas.sharing import OrganisationType
from schemas.submissions import Accepted, ReferralAnswer, ReferralRequest, ReferralSubmission
from schemas.views import ReferralView

router = APIRouter(prefix="/v1/referrals", tags=["referrals"])
TAKERS = allow(*policy.MAY_TAKE_ON)


def _receiver_type(engine: EngineDep, organisation: str) -> OrganisationType | None:
    with engine.connect() as connection:
        found = connection.execute(
            select(organisations.c.type).where(organisations.c.organisation == organisation)).scalar()
    return OrganisationType(found) if found else None


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def make_referral(referral: ReferralRequest, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
                  idempotency_key: IdempotencyKey = None, principal: Principal = TAKERS) -> Accepted:
    """Refer a person to another organisation, with why, what the person agreed it may see once it
    accepts (and how they agreed), and until when it may accept (default: REFERRAL_EXPIRY_DAYS).
    Made by an organisation that works with the person, or by outreach or the council (others:
    403; a person the maker may not see: 404). The receiver must be an organisation that can take
    a person on (422 otherwise)."""
    receiver = referral.to_organisation
    if receiver == principal.organisation or await run_in_threadpool(_receiver_type, engine,
                                                                     receiver) not in policy.MAY_TAKE_ON:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", "to_organisation"], "type": "value_error",
            "msg": "is not another organisation that can take a person on"}])
    expires_at = referral.expires_at or referral.occurred_at + timedelta(days=settings.referral_expiry_days)
    submission = ReferralSubmission(
        event_id=referral.event_id, person_id=referral.person_id, occurred_at=referral.occurred_at, what="made",
        details=ReferralDetails(to_organisation=receiver, reason=referral.reason, categories=referral.categories,
                                consent_obtained=referral.consent_obtained, expires_at=expires_at),
        personal={"notes": referral.notes},
    )

    def rule(journey: Journey | None) -> str | None:
        if not policy.may_refer(principal.viewer, journey):
            return "a referral is made by an organisation that works with the person, outreach or the council"
        return None

    return await accept(submission, idempotency_key, principal, engine, producer, settings, rule=rule)


@router.get("")
def list_referrals(engine: EngineDep, box: Annotated[Literal["received", "sent"], Query()] = "received",
                   principal: Principal = TAKERS) -> list[ReferralView]:
    """The organisation's inbox (received) or the referrals it made (sent), newest first, each
    with its status now. Each shown referral is audited as a read of the person's coordination."""
    now = datetime.now(UTC)
    return disclosed_referrals(engine, principal, referrals_of(engine, principal.organisation, box), now,
                               f"GET /v1/referrals?box={box}")


async def _answer(referral_id: UUID, answer: ReferralAnswer, what: Answer, engine: EngineDep, producer: ProducerDep,
            settings: SettingsDep, key: str | None, principal: Principal) -> Accepted:
    try:
        submission = await run_in_threadpool(answer_submission, engine, principal.organisation, referral_id, what,
                                             answer.occurred_at, answer.decline_reason, answer.event_id)
    except ReferralRefused as refused:
        if refused.field:
            raise HTTPException(refused.status, [{"loc": ["body", refused.field], "type": "value_error",
                                                  "msg": str(refused)}]) from None
        raise HTTPException(refused.status, str(refused)) from None
    # The referral is what admits the receiver: it may answer without seeing the person yet.
    return await accept(submission, key, principal, engine, producer, settings, admitted_by_referral=True)


@router.post("/{referral_id}/accept", status_code=status.HTTP_202_ACCEPTED)
async def accept_referral(referral_id: UUID, answer: ReferralAnswer, engine: EngineDep, producer: ProducerDep,
                    settings: SettingsDep, idempotency_key: IdempotencyKey = None,
                    principal: Principal = TAKERS) -> Accepted:
    """The receiver takes the person on: from then on it works with them, and sees them as the
    policy and the consent given with the referral allow. 409 once the referral is not open
    (answered, withdrawn, or expired)."""
    return await _answer(referral_id, answer, "accepted", engine, producer, settings, idempotency_key, principal)


@router.post("/{referral_id}/decline", status_code=status.HTTP_202_ACCEPTED)
async def decline_referral(referral_id: UUID, answer: ReferralAnswer, engine: EngineDep, producer: ProducerDep,
                     settings: SettingsDep, idempotency_key: IdempotencyKey = None,
                     principal: Principal = TAKERS) -> Accepted:
    """The receiver declines, with a reason the referrer sees; what the person agreed to share
    with it lapses."""
    return await _answer(referral_id, answer, "declined", engine, producer, settings, idempotency_key, principal)


@router.post("/{referral_id}/withdraw", status_code=status.HTTP_202_ACCEPTED)
async def withdraw_referral(referral_id: UUID, answer: ReferralAnswer, engine: EngineDep, producer: ProducerDep,
                      settings: SettingsDep, idempotency_key: IdempotencyKey = None,
                      principal: Principal = TAKERS) -> Accepted:
    """The referrer takes an open referral back; what the person agreed to share lapses."""
    return await _answer(referral_id, answer, "withdrawn", engine, producer, settings, idempotency_key, principal)
