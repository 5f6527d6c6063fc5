"""Identity decisions: link, merge, undo a merge, split.

The API checks only that both records are known. Whether a decision stands is judged in the
stream, by the one stage that sees every decision in one order (streams/judge_identity.py):
two concurrent merges of one record cannot both win, and no merge forms a chain or a cycle. The
API answers 202 with the decision's id; its verdict, with the reason for a refusal, is at
GET /v1/identity/decisions/{id}.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, ProducerDep, SettingsDep, allow
from api.problems import NOT_FOUND
from api.routes.submissions import IdempotencyKey, accept
from readmodel.keys import Principal, Role
from readmodel.people import load_journey
from readmodel.tables import identity_decisions
from schemas.submissions import Accepted, IdentityDecision, IdentitySubmission
from schemas.topics import IDENTITY_DECISIONS, IDENTITY_KEY
from schemas.views import IdentityVerdict

router = APIRouter(prefix="/v1/identity", tags=["identity"], responses=NOT_FOUND)  # both records must be known

DECIDERS = allow(Role.OUTREACH, Role.COUNCIL)


async def _decide(what: Literal["merged", "merge_undone", "linked", "split"], decision: IdentityDecision,
            engine: EngineDep, producer: ProducerDep, settings: SettingsDep, key: str | None,
            principal: Principal) -> Accepted:
    known = await run_in_threadpool(lambda: (load_journey(engine, decision.person_id) is not None
                                             and load_journey(engine, decision.other) is not None))
    if not known:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "both records must be known before a decision about them")
    submission = IdentitySubmission(
        event_id=decision.event_id, person_id=decision.person_id, occurred_at=datetime.now(UTC), what=what,
        details={"other": decision.other, "reason": decision.reason},
    )
    return await accept(submission, key, principal, engine, producer, settings,
                  topic=IDENTITY_DECISIONS, partition_key=IDENTITY_KEY)


@router.post("/merges", status_code=status.HTTP_202_ACCEPTED)
async def merge(decision: IdentityDecision, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
          idempotency_key: IdempotencyKey = None, principal: Principal = DECIDERS) -> Accepted:
    """Merge person_id into other. Both records are kept; later events for person_id join other.
    Refused (see the verdict) when person_id is already merged, when other is itself merged, when
    records were merged into person_id, or when the two were split apart."""
    return await _decide("merged", decision, engine, producer, settings, idempotency_key, principal)


@router.post("/merges/undo", status_code=status.HTTP_202_ACCEPTED)
async def undo_merge(decision: IdentityDecision, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
               idempotency_key: IdempotencyKey = None, principal: Principal = DECIDERS) -> Accepted:
    """Undo the merge of person_id into other: both records are as they were before it. Refused
    when person_id is not merged into other."""
    return await _decide("merge_undone", decision, engine, producer, settings, idempotency_key, principal)


@router.post("/links", status_code=status.HTTP_202_ACCEPTED)
async def link(decision: IdentityDecision, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
         idempotency_key: IdempotencyKey = None, principal: Principal = DECIDERS) -> Accepted:
    """The same person, records kept apart (counted once in the statistics). Refused for a pair
    that was split apart."""
    return await _decide("linked", decision, engine, producer, settings, idempotency_key, principal)


@router.post("/splits", status_code=status.HTTP_202_ACCEPTED)
async def split(decision: IdentityDecision, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
          idempotency_key: IdempotencyKey = None, principal: Principal = DECIDERS) -> Accepted:
    """Two different people: undoes any merge or link between them; never proposed again."""
    return await _decide("split", decision, engine, producer, settings, idempotency_key, principal)


@router.get("/decisions/{decision_id}")
def verdict(decision_id: UUID, engine: EngineDep, principal: Principal = DECIDERS) -> IdentityVerdict:
    """Whether a decision was accepted or refused, and why. 404 until it has been judged (a
    moment after the 202)."""
    with engine.connect() as connection:
        row = connection.execute(
            select(identity_decisions).where(identity_decisions.c.decision_id == str(decision_id))).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no verdict on this decision (yet)")
    return IdentityVerdict.model_validate(row, from_attributes=True)
