"""People: journeys, and the identity questions and decisions about their records."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel

from api.deps import EngineDep, SettingsDep, allow
from api.keys import Principal, Role
from api.people import as_dict, explain_match, get_journey, proposed_matches
from schemas.views import JourneyView

router = APIRouter(prefix="/v1/people", tags=["people"])

READERS = allow(Role.OUTREACH, Role.COUNCIL, Role.CHARITY)
IDENTITY = allow(Role.OUTREACH, Role.COUNCIL)


class MatchView(BaseModel):
    """Whether two records are proposed as the same person, and why (or why not)."""

    person_id: UUID
    other: UUID
    score: float
    proposed: bool
    reasons: list[str]


@router.get("/{person_id}/journey")
def read_journey(person_id: UUID, engine: EngineDep, settings: SettingsDep,
                 principal: Principal = READERS) -> JourneyView:
    """A person's journey with its timeline (and the timelines of records merged into it)."""
    journey = get_journey(engine=engine, person_id=person_id, now=datetime.now(UTC), zone=settings.zone,
                          inactive_after_days=settings.case_inactive_after_days)
    if journey is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no journey for this person (yet)")
    return journey


@router.get("/{person_id}/candidates")
def read_candidates(person_id: UUID, engine: EngineDep, principal: Principal = IDENTITY) -> list[MatchView]:
    """Records that may be the same person, best first, each with its score and reasons.
    Nothing is merged: a person decides through /v1/identity."""
    found = proposed_matches(engine, person_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no live record for this person")
    return [MatchView(**as_dict(m)) for m in found]


@router.get("/{person_id}/matches/{other}")
def read_match(person_id: UUID, other: UUID, engine: EngineDep, principal: Principal = IDENTITY) -> MatchView:
    """Why these two records were, or were not, proposed as the same person."""
    match = explain_match(engine, person_id, other)
    if match is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "one of the records is unknown or merged")
    return MatchView(**as_dict(match))
