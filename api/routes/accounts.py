"""Members and their keys, and what data protection leads see: the audit and break-glass reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.deps import CurrentPrincipal, EngineDep, allow
from api.keys import AccountError, Principal, Role, add_member, issue_member_key, key_id_of, revoke_key
from schemas.common import ShortText, Strict
from schemas.read_model import api_keys, audit_entries, break_glass, members

router = APIRouter(prefix="/v1", tags=["accounts and audit"])

ADMIN = allow(Role.ADMIN)


def data_protection_lead(principal: CurrentPrincipal) -> Principal:
    if not principal.data_protection_lead:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only a data protection lead may read the audit")
    return principal


DPO = Depends(data_protection_lead)


class NewMember(Strict):
    organisation: ShortText
    organisation_type: Role
    name: ShortText = Field(description="How colleagues know the member; shown in the audit")
    data_protection_lead: bool = False


class MemberAdded(BaseModel):
    member_id: str


class NewKey(Strict):
    expires_in_days: int = Field(90, ge=1, le=366)


class KeyIssued(BaseModel):
    key: str = Field(description="Shown once: only its hash is kept")
    key_id: str
    expires_at: datetime


class KeyView(BaseModel):
    key_id: str
    member_id: str | None
    organisation: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@router.post("/members", status_code=status.HTTP_201_CREATED, responses={409: {"description": "Type mismatch"}})
def post_member(new: NewMember, engine: EngineDep, principal: Principal = ADMIN) -> MemberAdded:
    """A member of an organisation (made with its type on first use). Admin keys only."""
    try:
        member_id = add_member(engine, organisation=new.organisation, organisation_type=new.organisation_type,
                               name=new.name, now=datetime.now(UTC), data_protection_lead=new.data_protection_lead)
    except AccountError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return MemberAdded(member_id=member_id)


@router.post("/members/{member_id}/keys", status_code=status.HTTP_201_CREATED,
             responses={404: {"description": "No such member for this caller"}})
def post_key(member_id: str, new: NewKey, engine: EngineDep, principal: CurrentPrincipal) -> KeyIssued:
    """A new key for a member: by the member themself or an admin. It expires."""
    if principal.role is not Role.ADMIN and principal.member_id != member_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such member")
    now = datetime.now(UTC)
    expires_at = now + timedelta(days=new.expires_in_days)
    try:
        key = issue_member_key(engine, member_id=member_id, now=now, expires_at=expires_at)
    except AccountError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such member") from None
    return KeyIssued(key=key, key_id=key_id_of(key), expires_at=expires_at)


def _keys_seen_by(principal: Principal) -> Any:
    if principal.role is Role.ADMIN:
        return True
    if principal.data_protection_lead:
        return api_keys.c.organisation == principal.organisation
    return api_keys.c.member_id == principal.member_id


@router.get("/keys")
def get_keys(engine: EngineDep, principal: CurrentPrincipal) -> list[KeyView]:
    """Keys without their secrets: a member's own; a data protection lead's organisation's; all for admin."""
    with engine.connect() as connection:
        rows = connection.execute(select(api_keys).where(_keys_seen_by(principal))
                                  .order_by(api_keys.c.created_at)).all()
    return [KeyView.model_validate(row, from_attributes=True) for row in rows]


@router.delete("/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "No such live key for this caller"}})
def delete_key(key_id: str, engine: EngineDep, principal: CurrentPrincipal) -> Response:
    """Revoke a key: it fails on the next request, in every API process."""
    with engine.connect() as connection:
        row = connection.execute(select(api_keys.c.key_id).where(api_keys.c.key_id == key_id,
                                                                 _keys_seen_by(principal))).first()
    if row is None or not revoke_key(engine, key_id, datetime.now(UTC)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such live key")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class AuditEntry(BaseModel):
    at: datetime
    member_id: str
    member_name: str | None
    organisation: str
    person_id: UUID
    categories: list[str]
    rule: str
    endpoint: str


def _entries(engine: EngineDep, condition: Any, limit: int) -> list[AuditEntry]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(audit_entries, members.c.name.label("member_name"))
            .join(members, members.c.member_id == audit_entries.c.member_id, isouter=True)
            .where(condition).order_by(audit_entries.c.entry_id.desc()).limit(limit)
        ).all()
    return [AuditEntry(at=r.at, member_id=r.member_id, member_name=r.member_name, organisation=r.organisation,
                       person_id=UUID(r.person_id), categories=r.categories.split(",") if r.categories else [],
                       rule=r.rule, endpoint=r.endpoint) for r in rows]


Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/audit")
def get_audit(engine: EngineDep, limit: Limit = 200, principal: Principal = DPO) -> list[AuditEntry]:
    """Reads of people's data by the lead's own organisation's members, newest first."""
    return _entries(engine, audit_entries.c.organisation == principal.organisation, limit)


@router.get("/people/{person_id}/disclosures")
def get_disclosures(person_id: UUID, engine: EngineDep, limit: Limit = 1000,
                    principal: Principal = DPO) -> list[AuditEntry]:
    """Who saw this person's data, for a subject access request: every organisation's reads for
    the council's data protection lead, the lead's own organisation's for others."""
    condition = audit_entries.c.person_id == str(person_id)
    if principal.role is not Role.COUNCIL:
        condition = condition & (audit_entries.c.organisation == principal.organisation)
    return _entries(engine, condition, limit)


class BreakGlassView(BaseModel):
    grant_id: UUID
    member_id: str
    person_id: UUID
    reason: str
    started_at: datetime
    until: datetime


@router.get("/audit/break-glass")
def get_break_glass(engine: EngineDep, limit: Limit = 200, principal: Principal = DPO) -> list[BreakGlassView]:
    """Break-glass grants taken by the lead's organisation's members, newest first."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(break_glass).where(break_glass.c.organisation == principal.organisation)
            .order_by(break_glass.c.started_at.desc()).limit(limit)).all()
    return [BreakGlassView.model_validate(row, from_attributes=True) for row in rows]
