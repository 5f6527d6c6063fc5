"""Identity decisions: link, merge, undo a merge, split. Each is two events, one per record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, status

from api.deps import EngineDep, ProducerDep, SettingsDep, allow
from api.keys import Principal, Role
from api.people import load_journey
from api.routes.submissions import IdempotencyKey, accept
from schemas.submissions import Accepted, IdentityDecision, IdentitySubmission

router = APIRouter(prefix="/v1/identity", tags=["identity"])

DECIDERS = allow(Role.OUTREACH, Role.COUNCIL)


def _decide(what: Literal["merged", "merge_undone", "linked", "split"], decision: IdentityDecision,
            engine: EngineDep, producer: ProducerDep, settings: SettingsDep, key: str | None,
            principal: Principal) -> Accepted:
    record, other = load_journey(engine, decision.person_id), load_journey(engine, decision.other)
    if record is None or other is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "both records must be known before a decision about them")
    refusal = None
    if what == "merged":
        if record.merged_into is not None:
            refusal = f"person_id was already merged into {record.merged_into}"
        elif other.merged_into is not None:
            refusal = f"other was itself merged into {other.merged_into}: merge into that record"
        elif other.person_id in record.not_same_as:
            refusal = "these records were split as two different people; link or merge needs the split undone"
    elif what == "merge_undone" and record.merged_into != other.person_id:
        refusal = "person_id is not merged into other"
    elif what == "linked" and other.person_id in record.not_same_as:
        refusal = "these records were split as two different people"
    if refusal:
        raise HTTPException(status.HTTP_409_CONFLICT, refusal)
    submission = IdentitySubmission(
        event_id=decision.event_id, person_id=decision.person_id, occurred_at=datetime.now(UTC), what=what,
        details={"other": decision.other, "reason": decision.reason},
    )
    return accept(submission, key, principal, engine, producer, settings)


@router.post("/merges", status_code=status.HTTP_202_ACCEPTED)
def merge(decision: IdentityDecision, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
          idempotency_key: IdempotencyKey = None, principal: Principal = DECIDERS) -> Accepted:
    """Merge person_id into other. Both records are kept; later events for person_id join other."""
    return _decide("merged", decision, engine, producer, settings, idempotency_key, principal)


@router.post("/merges/undo", status_code=status.HTTP_202_ACCEPTED)
def undo_merge(decision: IdentityDecision, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
               idempotency_key: IdempotencyKey = None, principal: Principal = DECIDERS) -> Accepted:
    """Undo the merge of person_id into other: both records are as they were before it."""
    return _decide("merge_undone", decision, engine, producer, settings, idempotency_key, principal)


@router.post("/links", status_code=status.HTTP_202_ACCEPTED)
def link(decision: IdentityDecision, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
         idempotency_key: IdempotencyKey = None, principal: Principal = DECIDERS) -> Accepted:
    """The same person, records kept apart (counted once in the statistics)."""
    return _decide("linked", decision, engine, producer, settings, idempotency_key, principal)


@router.post("/splits", status_code=status.HTTP_202_ACCEPTED)
def split(decision: IdentityDecision, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
          idempotency_key: IdempotencyKey = None, principal: Principal = DECIDERS) -> Accepted:
    """Two different people: undoes any merge or link between them; never proposed again."""
    return _decide("split", decision, engine, producer, settings, idempotency_key, principal)
