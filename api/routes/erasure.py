"""Erasure (UK GDPR art. 17), for the council's data protection lead: a person's personal data
from every record of theirs and everywhere it went, or a reporter's details when they ask."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import Engine

from api.deps import EngineDep, allow
from readmodel.erasure import Erased, Ground, erase_person, erase_reporter
from readmodel.keys import Principal, Role
from readmodel.sharing import NotTheirs
from schemas.common import Strict

log = logging.getLogger("journeys.api")

router = APIRouter(prefix="/v1", tags=["erasure"])

LEADS = allow(Role.COUNCIL)  # and only its data protection lead: journey/policy.may_erase
_REFUSED = {403: {"description": "Only the council's data protection lead erases"}}


class ErasureRequest(Strict):
    """Why the person's data is erased, and the data protection lead's reference for the request
    (their case number: no names, as it is kept with the erasure for ever)."""

    ground: Ground = Field(description="The ground of UK GDPR art. 17(1) it is erased on")
    reference: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.:-]{0,59}$")] = Field(
        description="The request's reference in the data protection lead's own records, e.g. DSR-2026-0142")


class ErasureView(BaseModel):
    """What an erasure did, in counts."""

    erasure_id: UUID
    records: list[UUID] = Field(description="Every record of the person erased: the one named, merged and linked "
                                            "(none for a reporter's erasure)")
    keys_destroyed: int
    entries_emptied: int = Field(description="Timeline entries whose personal part was removed")
    reports: int = Field(description="Reports whose reporters' details were erased")


@router.post("/people/{person_id}/erasure", responses={**_REFUSED, 404: {"description": "Nobody known by this id"}})
def erase(person_id: UUID, request: ErasureRequest, engine: EngineDep,
          principal: Principal = LEADS) -> ErasureView:
    """Erase a person's personal data (UK GDPR art. 17) from every record of theirs and everywhere
    it went: the data keys that sealed it are destroyed, so what sits in topics, the worker's
    stores, dead letters and backups can no longer be opened, and the read model's personal
    parts and the details of those who reported them are removed. The non-personal facts stay
    (stages, nights, counts), so the statistics do not change. Recorded with its ground and
    reference, and audited. For the council's data protection lead."""
    return _erased(erase_person, person_id, request, engine, principal, "nobody known by this id")


@router.post("/reports/{report_id}/reporter-erasure",
             responses={**_REFUSED, 404: {"description": "No report known by this id"}})
def erase_a_reporter(report_id: UUID, request: ErasureRequest, engine: EngineDep,
                     principal: Principal = LEADS) -> ErasureView:
    """Erase the details of a report's reporter (their name, email and phone), when the reporter
    asks: the key that sealed them is destroyed and the report keeps everything else. Recorded
    with its ground and reference, and audited. For the council's data protection lead."""
    return _erased(erase_reporter, report_id, request, engine, principal, "no report known by this id")


def _erased(erase: Callable[..., Erased | None], target: UUID, request: ErasureRequest, engine: Engine,
            principal: Principal, unknown: str) -> ErasureView:
    try:
        erased = erase(engine, principal.viewer, principal.data_protection_lead, target, ground=request.ground,
                       reference=request.reference, now=datetime.now(UTC))
    except NotTheirs as refused:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(refused)) from None
    if erased is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, unknown)
    log.info("erasure %s made: %d records, %d keys destroyed", erased.erasure_id, len(erased.records),
             erased.keys_destroyed)
    return ErasureView(erasure_id=erased.erasure_id, records=[UUID(r) for r in erased.records],
                       keys_destroyed=erased.keys_destroyed, entries_emptied=erased.entries_emptied,
                       reports=erased.reports)
