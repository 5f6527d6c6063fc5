"""How members prove who they are on the pages: invitations (a one-time link an organisation's
lead or an admin sends) and passkeys (WebAuthn credentials; only their public keys are kept).
The WebAuthn ceremony itself is the API's (api/passkeys.py); this is what it stores. Every
invitation, registration, removal and revocation is in the account audit, never a token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select, update

from readmodel.keys import AccountError, Principal, Role, account_event
from readmodel.tables import (
    ceremonies,
    invitation_emails,
    invitations,
    members,
    organisations,
    page_sessions,
    passkeys,
)


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Invited:
    member_id: str
    name: str
    organisation: str
    expires_at: datetime


def invite(engine: Engine, member_id: str, now: datetime, *, valid_for: timedelta, actor: str,
           email_to: str | None = None, origin: str = "") -> tuple[str, datetime]:
    """A one-time invitation for a member to register a passkey: its token (seen only now) and
    when it expires. An earlier invitation not yet used is withdrawn: one link is live at a time.
    With `email_to`, the worker emails the link (at `origin`) to that address, then forgets both."""
    token = secrets.token_urlsafe(32)
    expires_at = now + valid_for
    with engine.begin() as connection:
        member = connection.execute(select(members).where(
            members.c.member_id == member_id, members.c.removed_at.is_(None))).first()
        if member is None:
            raise AccountError("no such member")
        connection.execute(update(invitations).where(
            invitations.c.member_id == member_id, invitations.c.used_at.is_(None),
            invitations.c.withdrawn_at.is_(None)).values(withdrawn_at=now))
        connection.execute(invitations.insert().values(
            token_sha256=sha256(token), member_id=member_id, created_by=actor, created_at=now, expires_at=expires_at))
        if email_to is not None:
            connection.execute(invitation_emails.insert().values(
                token_sha256=sha256(token), organisation=member.organisation, member_id=member_id,
                to_address=email_to, link=f"{origin}/join/{token}", status="pending", attempts=0, next_try_at=now,
                created_at=now))
        account_event(connection, organisation=member.organisation, actor=actor, action="invitation.sent", now=now,
                      member_id=member_id, detail=f"expires {expires_at:%Y-%m-%d %H:%M} UTC"
                      + (", emailed by the platform" if email_to else ""))
    return token, expires_at


def invitation_to_email(engine: Engine, token_sha256: str, now: datetime) -> Any:
    """An emailed invitation's address, link, member's name and expiry, while the invitation is
    still usable; None once it was used, withdrawn or expired (nothing to send)."""
    with engine.connect() as connection:
        return connection.execute(
            select(invitation_emails.c.to_address, invitation_emails.c.link, members.c.name, members.c.organisation,
                   invitations.c.expires_at)
            .join(invitations, invitations.c.token_sha256 == invitation_emails.c.token_sha256)
            .join(members, members.c.member_id == invitation_emails.c.member_id)
            .where(invitation_emails.c.token_sha256 == token_sha256, invitations.c.used_at.is_(None),
                   invitations.c.withdrawn_at.is_(None), invitations.c.expires_at > now,
                   members.c.removed_at.is_(None))).first()


def invitation_email_settled(engine: Engine, token_sha256: str, values: dict[str, Any], *,
                             audit: tuple[str, str] | None = None) -> None:
    """An emailed invitation's row after a try: sent or given up, its address and link are
    forgotten; `audit` (action, detail) goes to the organisation's account audit."""
    with engine.begin() as connection:
        if values.get("status", "pending") != "pending":
            values = {**values, "to_address": None, "link": None}
        connection.execute(update(invitation_emails).where(invitation_emails.c.token_sha256 == token_sha256)
                           .values(leased_until=None, **values))
        if audit is not None:
            row = connection.execute(select(invitation_emails).where(
                invitation_emails.c.token_sha256 == token_sha256)).one()
            account_event(connection, organisation=row.organisation, actor="platform", action=audit[0],
                          now=datetime.now(UTC), member_id=row.member_id, detail=audit[1])


def invitation(engine: Engine, token: str, now: datetime) -> Invited | None:
    """The member an invitation is for, while it is neither used, withdrawn nor expired."""
    with engine.connect() as connection:
        row = connection.execute(
            select(invitations.c.member_id, invitations.c.expires_at, members.c.name, members.c.organisation)
            .join(members, members.c.member_id == invitations.c.member_id)
            .where(invitations.c.token_sha256 == sha256(token), invitations.c.used_at.is_(None),
                   invitations.c.withdrawn_at.is_(None), invitations.c.expires_at > now,
                   members.c.removed_at.is_(None))).first()
    return None if row is None else Invited(row.member_id, row.name, row.organisation, row.expires_at)


def member_principal(engine: Engine, member_id: str) -> Principal | None:
    """What a signed-in member may do (their organisation's type), while they are a member."""
    with engine.connect() as connection:
        row = connection.execute(
            select(members.c.organisation, members.c.data_protection_lead, organisations.c.type)
            .join(organisations, organisations.c.organisation == members.c.organisation)
            .where(members.c.member_id == member_id, members.c.removed_at.is_(None))).first()
    return None if row is None else principal_of(member_id, row)


def member_signing_in_as(engine: Engine, organisation: str, sign_in_name: str) -> Principal | None:
    """The member of the organisation whom its identity provider names: found, never made."""
    with engine.connect() as connection:
        row = connection.execute(
            select(members.c.member_id, members.c.organisation, members.c.data_protection_lead, organisations.c.type)
            .join(organisations, organisations.c.organisation == members.c.organisation)
            .where(members.c.organisation == organisation, members.c.sign_in_name == sign_in_name,
                   members.c.removed_at.is_(None))).first()
    return None if row is None else principal_of(row.member_id, row)


def member_name(engine: Engine, member_id: str) -> str:
    """The name a member's phone shows beside their passkey."""
    with engine.connect() as connection:
        return str(connection.execute(select(members.c.name).where(members.c.member_id == member_id)).scalar_one())


def principal_of(member_id: str, row: Any) -> Principal:
    # A member signed in on the pages has no key: the rate limit and the audit name the member.
    return Principal(key_id="", member_id=member_id, organisation=row.organisation, role=Role(row.type),
                     data_protection_lead=bool(row.data_protection_lead))


# The ceremonies: a server-held challenge, used once, within a few minutes.
CEREMONY_MINUTES = 5


def start_ceremony(engine: Engine, purpose: str, now: datetime, *, member_id: str | None = None,
                   invitation_sha256: str | None = None, carried: dict[str, Any] | None = None) -> tuple[str, bytes]:
    """A new ceremony: the browser's handle on it (kept in an HttpOnly cookie) and its challenge.
    Expired ceremonies are swept as new ones start."""
    handle = secrets.token_urlsafe(32)
    challenge = secrets.token_bytes(32)
    with engine.begin() as connection:
        connection.execute(delete(ceremonies).where(ceremonies.c.expires_at <= now))
        connection.execute(ceremonies.insert().values(
            ceremony_id=sha256(handle), purpose=purpose, challenge=challenge, member_id=member_id,
            invitation_sha256=invitation_sha256, carried=carried,
            expires_at=now + timedelta(minutes=CEREMONY_MINUTES)))
    return handle, challenge


def finish_ceremony(engine: Engine, handle: str | None, purpose: str, now: datetime) -> Any:
    """The ceremony a browser started, taken (deleted) so that it cannot be answered twice; None
    when there is none for this purpose, or it ran out."""
    if not handle:
        return None
    with engine.begin() as connection:
        row = connection.execute(select(ceremonies).where(ceremonies.c.ceremony_id == sha256(handle))).first()
        if row is None:
            return None
        taken = connection.execute(delete(ceremonies).where(ceremonies.c.ceremony_id == row.ceremony_id)).rowcount
    if taken != 1 or row.purpose != purpose or row.expires_at <= now:
        return None
    return row


def member_passkeys(engine: Engine, member_id: str) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(passkeys).where(
            passkeys.c.member_id == member_id, passkeys.c.removed_at.is_(None)).order_by(passkeys.c.created_at)))


def passkey(engine: Engine, credential_id: str) -> Any:
    """A live passkey of a member still on the platform, with their organisation; or None."""
    with engine.connect() as connection:
        return connection.execute(
            select(passkeys, members.c.organisation, members.c.data_protection_lead, organisations.c.type)
            .join(members, members.c.member_id == passkeys.c.member_id)
            .join(organisations, organisations.c.organisation == members.c.organisation)
            .where(passkeys.c.credential_id == credential_id, passkeys.c.removed_at.is_(None),
                   members.c.removed_at.is_(None))).first()


def add_passkey(engine: Engine, *, member_id: str, credential_id: str, public_key: bytes, sign_count: int,
                name: str, now: datetime, invitation_sha256: str | None = None) -> None:
    """Keep a member's new passkey; from an invitation, the invitation is used up in the same
    transaction (a second registration from one link fails)."""
    with engine.begin() as connection:
        organisation = connection.execute(select(members.c.organisation).where(
            members.c.member_id == member_id, members.c.removed_at.is_(None))).scalar()
        if organisation is None:
            raise AccountError("no such member")
        if invitation_sha256 is not None:
            used = connection.execute(update(invitations).where(
                invitations.c.token_sha256 == invitation_sha256, invitations.c.member_id == member_id,
                invitations.c.used_at.is_(None), invitations.c.withdrawn_at.is_(None),
                invitations.c.expires_at > now).values(used_at=now)).rowcount
            if used != 1:
                raise AccountError("the invitation was used, withdrawn or has expired")
        connection.execute(passkeys.insert().values(
            credential_id=credential_id, member_id=member_id, name=name, public_key=public_key,
            sign_count=sign_count, created_at=now))
        account_event(connection, organisation=organisation, actor=member_id, action="passkey.registered", now=now,
                      member_id=member_id, detail="from an invitation" if invitation_sha256 else "another device")


def passkey_used(engine: Engine, credential_id: str, sign_count: int, now: datetime) -> None:
    with engine.begin() as connection:
        connection.execute(update(passkeys).where(passkeys.c.credential_id == credential_id)
                           .values(sign_count=sign_count, last_used_at=now))


def remove_passkey(engine: Engine, member_id: str, credential_id: str, now: datetime, *, actor: str) -> bool:
    """A member removes one of their passkeys (a phone replaced); the others stay."""
    with engine.begin() as connection:
        organisation = connection.execute(select(members.c.organisation).where(
            members.c.member_id == member_id)).scalar()
        done = connection.execute(update(passkeys).where(
            passkeys.c.credential_id == credential_id, passkeys.c.member_id == member_id,
            passkeys.c.removed_at.is_(None)).values(removed_at=now)).rowcount
        if done and organisation is not None:
            account_event(connection, organisation=organisation, actor=actor, action="passkey.removed", now=now,
                          member_id=member_id)
    return bool(done)


def revoke_passkeys(engine: Engine, member_id: str, organisation: str, now: datetime, *, actor: str) -> dict[str, int]:
    """An admin's or lead's revocation: every passkey of the member, their unused invitations and
    their open sessions, at once; they need a new invitation to sign in again."""
    with engine.begin() as connection:
        removed = connection.execute(update(passkeys).where(
            passkeys.c.member_id == member_id, passkeys.c.removed_at.is_(None)).values(removed_at=now)).rowcount
        withdrawn = connection.execute(update(invitations).where(
            invitations.c.member_id == member_id, invitations.c.used_at.is_(None),
            invitations.c.withdrawn_at.is_(None)).values(withdrawn_at=now)).rowcount
        ended = connection.execute(update(page_sessions).where(
            page_sessions.c.member_id == member_id, page_sessions.c.ended_at.is_(None)).values(ended_at=now)).rowcount
        done = {"passkeys": removed, "invitations": withdrawn, "sessions": ended}
        account_event(connection, organisation=organisation, actor=actor, action="passkey.revoked_all", now=now,
                      member_id=member_id, detail=", ".join(f"{n} {what}" for what, n in done.items()))
    return done
