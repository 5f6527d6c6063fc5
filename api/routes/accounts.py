"""Members and their keys, and what data protection leads see: the audit and break-glass reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.deps import CurrentPrincipal, EngineDep, SettingsDep
from api.sessions import end_member_sessions
from readmodel.keys import (
    AccountError,
    Principal,
    Role,
    add_member,
    issue_member_key,
    key_id_of,
    member_of,
    remove_member,
    revoke_key,
    set_sign_in_name,
)
from readmodel.passkeys import invite, revoke_passkeys
from readmodel.tables import account_events, api_keys, audit_entries, break_glass, members
from schemas.common import ShortText, Strict

router = APIRouter(prefix="/v1", tags=["accounts and audit"])



async def data_protection_lead(principal: CurrentPrincipal) -> Principal:  # inline: api/deps.py
    if not principal.data_protection_lead:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only a data protection lead may read the audit")
    return principal


DPO = Depends(data_protection_lead)


SignInName = Annotated[str | None, Field(min_length=1, max_length=254, description=(
    "Who the member is at their organisation's identity provider: the value of the claim its single sign-on "
    "maps (SIGN_IN_PROVIDERS), often their work email. The provider signs in only members made here first."))]


EmailAddress = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class NewMember(Strict):
    organisation: ShortText
    organisation_type: Role
    name: ShortText = Field(description="How colleagues know the member; shown in the audit")
    data_protection_lead: bool = False
    email: EmailAddress | None = Field(None, description=(
        "A data protection lead's work address: told at once of every break-glass read by the organisation"))
    sign_in_name: SignInName = None


class SignInNameChange(Strict):
    sign_in_name: SignInName = Field(description="None: the member no longer signs in through the provider")


class MemberAdded(BaseModel):
    member_id: str


class MemberRemoved(BaseModel):
    keys: int = Field(description="Keys revoked")
    sessions: int = Field(description="Page sessions ended")
    subscriptions: int = Field(description="Subscriptions the member made, disabled")


def _manages(principal: Principal, organisation: str) -> bool:
    """Who changes an organisation's members and their keys: an admin, or that organisation's
    data protection lead. Never a member on their own say-so."""
    return principal.role is Role.ADMIN or (principal.data_protection_lead and principal.organisation == organisation)


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


@router.post("/members", status_code=status.HTTP_201_CREATED, responses={
    403: {"description": "Only an admin, or the organisation's data protection lead"},
    409: {"description": "Type mismatch"}})
def post_member(new: NewMember, engine: EngineDep, principal: CurrentPrincipal) -> MemberAdded:
    """A member of an organisation (made with its type on first use): by an admin, or by the
    organisation's data protection lead for their own organisation. Audited."""
    if not _manages(principal, new.organisation) or (
            principal.role is not Role.ADMIN and new.organisation_type is not principal.role):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "only an admin or the organisation's data protection lead adds its members")
    if new.email and not new.data_protection_lead:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", "email"], "type": "value_error",
            "msg": "only a data protection lead's address is kept (to tell them of break-glass reads)"}])
    try:
        member_id = add_member(engine, organisation=new.organisation, organisation_type=new.organisation_type,
                               name=new.name, now=datetime.now(UTC), data_protection_lead=new.data_protection_lead,
                               email=new.email, sign_in_name=new.sign_in_name, actor=principal.member_id)
    except AccountError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return MemberAdded(member_id=member_id)


@router.delete("/members/{member_id}", responses={404: {"description": "No such member for this caller"}})
def delete_member(member_id: str, request: Request, engine: EngineDep, principal: CurrentPrincipal) -> MemberRemoved:
    """Remove a member (someone who left): their keys are revoked and their page sessions ended
    at once, and the subscriptions they made are disabled. By an admin or the organisation's data
    protection lead; audited."""
    member = member_of(engine, member_id)
    if member is None or not _manages(principal, member.organisation):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such member")
    done = remove_member(engine, member_id, actor=principal.member_id, now=datetime.now(UTC))
    request.app.state.key_check.forget()  # their keys fail on the next request here (elsewhere within 1 s)
    if done is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such member")
    return MemberRemoved(**done)


@router.put("/members/{member_id}/sign-in-name", status_code=status.HTTP_204_NO_CONTENT, responses={
    404: {"description": "No such member for this caller"}, 409: {"description": "Another member has it"}})
def put_sign_in_name(member_id: str, change: SignInNameChange, engine: EngineDep,
                     principal: CurrentPrincipal) -> Response:
    """Who the member is at their organisation's identity provider. A change ends the sessions
    they began through it. By an admin or the organisation's data protection lead; audited."""
    member = member_of(engine, member_id)
    if member is None or not _manages(principal, member.organisation):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such member")
    try:
        set_sign_in_name(engine, member_id, change.sign_in_name, actor=principal.member_id, now=datetime.now(UTC))
    except AccountError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class SessionsEnded(BaseModel):
    ended: int = Field(description="Sessions that were open, in every browser")


@router.post("/members/{member_id}/sessions/end", responses={404: {"description": "No such member for this caller"}})
def end_sessions(member_id: str, engine: EngineDep, principal: CurrentPrincipal) -> SessionsEnded:
    """"This phone was lost": every page session of the member ends at once, in every API
    process (each page request checks its session in the database). Their keys stay; revoke a
    key too if it was written down on the phone. By an admin or the organisation's data
    protection lead; audited."""
    member = member_of(engine, member_id)
    if member is None or not _manages(principal, member.organisation):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such member")
    ended = end_member_sessions(engine, member_id, member.organisation, datetime.now(UTC), actor=principal.member_id,
                                action="session.ended")
    return SessionsEnded(ended=ended)


class Invitation(BaseModel):
    link: str = Field(description="The one-time link with which the member makes their first passkey; give it to "
                                  "them yourself, or let the platform email it (it is not kept: only its hash is)")
    expires_at: datetime
    emailed: bool = Field(False, description="The platform is emailing the link to the address given")


class InvitationAsked(Strict):
    email: EmailAddress | None = Field(None, description=(
        "The member's work address: the platform emails the link there (retried while the mail server is away), "
        "then forgets the address. Left out: give the link yourself."))


@router.post("/members/{member_id}/invitations", status_code=status.HTTP_201_CREATED,
             responses={404: {"description": "No such member for this caller"}})
def post_invitation(member_id: str, engine: EngineDep, settings: SettingsDep, principal: CurrentPrincipal,
                    asked: InvitationAsked | None = None) -> Invitation:
    """A one-time invitation for a member to make a passkey on their phone or computer (a new
    member, a new phone, or after their passkeys were revoked). It expires after
    INVITATION_HOURS; a newer one withdraws it. By an admin or the organisation's data protection
    lead; audited (never the link)."""
    member = member_of(engine, member_id)
    if member is None or not _manages(principal, member.organisation):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such member")
    email = asked.email if asked else None
    if email and not settings.smtp_host:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", "email"], "type": "value_error",
            "msg": "the platform has no mail server (SMTP_HOST): leave the address out and give the link yourself"}])
    token, expires_at = invite(engine, member_id, datetime.now(UTC),
                               valid_for=timedelta(hours=settings.invitation_hours), actor=principal.member_id,
                               email_to=email, origin=settings.origin)
    return Invitation(link=f"{settings.origin}/join/{token}", expires_at=expires_at, emailed=email is not None)


class PasskeysRevoked(BaseModel):
    passkeys: int = Field(description="Passkeys that will no longer sign the member in")
    invitations: int = Field(description="Unused invitations withdrawn")
    sessions: int = Field(description="Page sessions ended, in every browser")


@router.delete("/members/{member_id}/passkeys", responses={404: {"description": "No such member for this caller"}})
def delete_passkeys(member_id: str, engine: EngineDep, principal: CurrentPrincipal) -> PasskeysRevoked:
    """Revoke every passkey of a member (a phone lost with its lock known, a member who should no
    longer sign in from their devices), end their sessions and withdraw their invitations, at
    once; a new invitation lets them make a new passkey. By an admin or the organisation's data
    protection lead; audited."""
    member = member_of(engine, member_id)
    if member is None or not _manages(principal, member.organisation):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such member")
    done = revoke_passkeys(engine, member_id, member.organisation, datetime.now(UTC), actor=principal.member_id)
    return PasskeysRevoked(**done)


@router.post("/members/{member_id}/keys", status_code=status.HTTP_201_CREATED,
             responses={404: {"description": "No such member for this caller"}})
def post_key(member_id: str, new: NewKey, engine: EngineDep, principal: CurrentPrincipal) -> KeyIssued:
    """A new key for a member, by an admin or the organisation's data protection lead. A member
    may also replace their own key, but the new one expires no later than the key that asks for it
    (a stolen key cannot mint a longer-lived one). Audited."""
    member = member_of(engine, member_id)
    if member is None or not (_manages(principal, member.organisation) or principal.member_id == member_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such member")
    now = datetime.now(UTC)
    expires_at = now + timedelta(days=new.expires_in_days)
    if not _manages(principal, member.organisation):
        expires_at = min(expires_at, principal.key_expires_at or now + timedelta(days=NewKey().expires_in_days))
    try:
        key = issue_member_key(engine, member_id=member_id, now=now, expires_at=expires_at, actor=principal.member_id)
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
def delete_key(key_id: str, request: Request, engine: EngineDep, principal: CurrentPrincipal) -> Response:
    """Revoke a key: it fails on the next request to this API process, and within a second in
    every other."""
    with engine.connect() as connection:
        row = connection.execute(select(api_keys.c.key_id).where(api_keys.c.key_id == key_id,
                                                                 _keys_seen_by(principal))).first()
    if row is None or not revoke_key(engine, key_id, datetime.now(UTC), actor=principal.member_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such live key")
    request.app.state.key_check.forget()
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


class AccountEvent(BaseModel):
    at: datetime
    organisation: str
    actor: str = Field(description="The member who made the change (operator: the command line)")
    action: str = Field(description="member.added, member.removed, key.issued, key.revoked, invitation.sent, "
                                    "invitation.emailed, invitation.email_failed, passkey.registered, passkey.removed, "
                                    "passkey.revoked_all, member.sign_in_name_set, session.signed_in, "
                                    "session.sign_in_failed, session.signed_out, session.signed_out_everywhere, "
                                    "session.ended, break_glass.taken, break_glass.refused")
    member_id: str | None
    key_id: str | None
    detail: str | None


@router.get("/audit/accounts")
def get_account_events(engine: EngineDep, principal: CurrentPrincipal, limit: Limit = 200) -> list[AccountEvent]:
    """Who changed whose account, and every break-glass taken or refused, newest first: the lead's
    own organisation's (every organisation's for an admin)."""
    if principal.role is not Role.ADMIN and not principal.data_protection_lead:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only a data protection lead may read the audit")
    condition = True if principal.role is Role.ADMIN else account_events.c.organisation == principal.organisation
    with engine.connect() as connection:
        rows = connection.execute(select(account_events).where(condition)
                                  .order_by(account_events.c.entry_id.desc()).limit(limit)).all()
    return [AccountEvent.model_validate(row, from_attributes=True) for row in rows]


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
