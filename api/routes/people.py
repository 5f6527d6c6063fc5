"""GET /v1/people/{person_id}/journey."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, HTTPException, status

from api.deps import EngineDep, allow
from api.keys import Principal, Role
from api.people import get_journey
from schemas.views import JourneyView

router = APIRouter(prefix="/v1/people", tags=["people"])

READERS = allow(Role.OUTREACH, Role.COUNCIL, Role.CHARITY)


@router.get("/{person_id}/journey")
def read_journey(person_id: UUID, engine: EngineDep, principal: Principal = READERS) -> JourneyView:
    """A person's journey with its timeline."""
    journey = get_journey(engine=engine, person_id=person_id)
    if journey is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no journey for this person (yet)")
    return journey
