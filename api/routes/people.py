"""People: journeys, and the identity questions and decisions about their records."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field, StringConstraints

from api.deps import EngineDep, SettingsDep, allow
from journey.matching import Search
from journey.policy import MAY_BREAK_GLASS, MAY_READ_PEOPLE, most_seen
from readmodel.keys import Principal, Role
from readmodel.people import as_dict, explain_match, load_journey, proposed_matches
from readmodel.sharing import (
    BreakGlassCapped,
    NotTheirs,
    access_to,
    audit,
    disclosed_journey,
    grant_break_glass,
    search_people,
    subject_access,
)
from schemas.common import Strict
from schemas.sharing import Category
from schemas.views import JourneyView, PersonFound

log = logging.getLogger("journeys.api")

router = APIRouter(prefix="/v1/people", tags=["people"])

READERS = allow(*MAY_READ_PEOPLE)  # what each sees of whom: journey/policy.py
IDENTITY = allow(Role.OUTREACH, Role.COUNCIL)
BREAKERS = allow(*MAY_BREAK_GLASS)
SUBJECT_ACCESS = allow(Role.COUNCIL)  # and only its data protection lead: journey/policy.may_answer_subject_access


class MatchView(BaseModel):
    """Whether two records are proposed as the same person, and why (or why not)."""

    person_id: UUID
    other: UUID
    score: float
    proposed: bool
    reasons: list[str]


class PersonSearch(Strict):
    """What the searcher knows. Sent in the body, never the URL: URLs end up in logs, histories and
    proxies. Every term given must match."""

    name: Annotated[str | None, Field(min_length=2, max_length=120, description="Name or alias, as heard")] = None
    date_of_birth: date | None = None
    description: Annotated[str | None, Field(min_length=3, max_length=200, description="Words of a description")] \
        = None
    area: Annotated[str | None, Field(max_length=32, description="An area the person was seen in")] = None


@router.post("/search", response_model=list[PersonFound], response_model_exclude_unset=True,
             responses={422: {"description": "No search term given, or a term the searcher may not search by"}})
def search(wanted: PersonSearch, engine: EngineDep, principal: Principal = READERS) -> list[dict[str, Any]]:
    """Find people without knowing their id. Only people this reader may see are returned, each as
    far as the policy allows, and only by terms it may see of them: names, date of birth and
    description need the core category, an area coordination (so police, who see only whom to
    call, cannot search: a search by a field one cannot see would confirm it). Every person shown
    is audited."""
    search = Search(name=wanted.name, date_of_birth=wanted.date_of_birth, description=wanted.description,
                    area=wanted.area)
    terms = search.terms()
    if not terms:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body"], "type": "value_error",
            "msg": "give at least one of name, date_of_birth, description, area"}])
    never = most_seen(principal.role)
    refused = [term for term, category in terms.items() if category not in never]
    if refused:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", term], "type": "value_error",
            "msg": f"a {principal.role.value} organisation never sees {terms[term].value} information, so it "
                   f"may not search by {term}"} for term in refused])
    return search_people(engine, principal, search, datetime.now(UTC))


@router.get("/{person_id}/journey", response_model=JourneyView, response_model_exclude_unset=True,
            responses={404: {"description": "Nobody known by this id, or nothing this reader may see"}})
def read_journey(person_id: UUID, engine: EngineDep, settings: SettingsDep,
                 principal: Principal = READERS) -> dict[str, Any]:
    """A person's journey with its timeline (and the timelines of records merged into it), as far
    as the sharing policy lets this reader see it; every read is audited."""
    shown = disclosed_journey(engine, principal, person_id, settings, datetime.now(UTC),
                              "GET /v1/people/{person_id}/journey")
    if shown is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no journey for this person (yet)")
    return shown


@router.get("/{person_id}/subject-access",
            responses={403: {"description": "Only the council's data protection lead answers subject access requests"},
                       404: {"description": "Nobody known by this id"}})
def read_subject_access(person_id: UUID, engine: EngineDep, settings: SettingsDep,
                        principal: Principal = SUBJECT_ACCESS) -> dict[str, Any]:
    """Everything held about a person, to give them (UK GDPR art. 15): the journey with every
    record merged into it and every entry's personal part, the organisations that work with them,
    their consents and referrals, and who saw their data and when. Nothing about anyone else (a
    reporter's details are left out). For the council's data protection lead; audited.
    A printable page of the same: /people/{person_id}/subject-access."""
    try:
        answer = subject_access(engine, principal, person_id, settings, datetime.now(UTC))
    except NotTheirs as refused:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(refused)) from None
    if answer is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "nobody known by this id")
    return answer


def _identity_reader(engine: EngineDep, principal: Principal, person_id: UUID, endpoint: str) -> None:
    """Candidates and matches compare what records say about who the person is (core): the reader
    must see that of the person, and the read is audited."""
    now = datetime.now(UTC)
    journey = load_journey(engine, person_id)
    decided = access_to(engine, principal, person_id, journey, now) if journey else None
    if decided is None or Category.CORE not in decided.categories:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no live record for this person")
    audit(engine, principal.viewer, person_id, {Category.CORE}, decided.rule.value, endpoint, now)


@router.get("/{person_id}/candidates")
def read_candidates(person_id: UUID, engine: EngineDep, principal: Principal = IDENTITY) -> list[MatchView]:
    """Records that may be the same person, best first, each with its score and reasons.
    Nothing is merged: a person decides through /v1/identity."""
    _identity_reader(engine, principal, person_id, "GET /v1/people/{person_id}/candidates")
    found = proposed_matches(engine, person_id, datetime.now(UTC))
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no live record for this person")
    return [MatchView(**as_dict(m)) for m in found]


@router.get("/{person_id}/matches/{other}")
def read_match(person_id: UUID, other: UUID, engine: EngineDep, principal: Principal = IDENTITY) -> MatchView:
    """Why these two records were, or were not, proposed as the same person."""
    _identity_reader(engine, principal, person_id, "GET /v1/people/{person_id}/matches/{other}")
    _identity_reader(engine, principal, other, "GET /v1/people/{person_id}/matches/{other}")
    match = explain_match(engine, person_id, other)
    if match is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "one of the records is unknown or merged")
    return MatchView(**as_dict(match))


class BreakGlass(Strict):
    """Why the policy must be set aside for this person now (a safeguarding emergency, say)."""

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=500)]
    minutes: int = Field(60, ge=1, le=240, description="How long the grant lasts")


class BreakGlassGranted(BaseModel):
    grant_id: UUID
    until: datetime


@router.post("/{person_id}/break-glass", status_code=status.HTTP_201_CREATED,
             responses={404: {"description": "Nobody known by this id"},
                        429: {"description": "The member's break-glass reads for the day are used up"}})
def post_break_glass(person_id: UUID, request: BreakGlass, engine: EngineDep, settings: SettingsDep,
                     principal: Principal = BREAKERS) -> BreakGlassGranted:
    """Read beyond the policy for a limited time with a stated reason. The grant is recorded and
    listed for the organisation's data protection lead, who is told at once by email; every read
    under it is audited as such. At most BREAK_GLASS_DAILY_CAP grants per member in 24 hours."""
    if load_journey(engine, person_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no journey for this person (yet)")
    now = datetime.now(UTC)
    until = now + timedelta(minutes=request.minutes)
    try:
        grant_id = grant_break_glass(engine, principal, person_id, request.reason, until, now,
                                     daily_cap=settings.break_glass_daily_cap)
    except BreakGlassCapped:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"break-glass is limited to {settings.break_glass_daily_cap} grants a day per member; "
                            "your data protection lead has been told") from None
    log.warning("break-glass granted grant=%s organisation=%s", grant_id, principal.organisation)
    return BreakGlassGranted(grant_id=UUID(grant_id), until=until)
