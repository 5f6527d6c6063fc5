"""Members signed in to the pages: a sign-in with a passkey (or the organisation's single
sign-on) makes a session (a random token in an HttpOnly cookie; only its SHA-256 is stored)
that ends after a while without use and, in use or not, after a shift; sooner on a computer the
member said is shared. Every page request checks the session and that its member is still a
member, in the database and in one query, so a removed member, revoked passkeys, "sign out
everywhere" and an admin's "this phone was lost" end it at the next request, in every API
process. Sign-ins, sign-outs and sessions ended for a member are in the account audit (never
a token)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from readmodel.keys import Principal, account_event
from readmodel.passkeys import principal_of
from readmodel.tables import members, organisations, page_sessions
from schemas.settings import Settings

COOKIE = "journeys_session"
TOUCH_EVERY = timedelta(minutes=1)  # how often a page request records that the session is in use
# Account changes (adding or removing a passkey) need the member to have proved who they are
# this recently in the session: a phone left signed in on a table cannot add its finder's passkey.
REAUTHENTICATE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class SessionRules:
    """How long a session lasts without use and in all, on a member's own device and on a shared one."""

    idle: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=8)
    shared_idle: timedelta = timedelta(minutes=10)
    shared_lifetime: timedelta = timedelta(hours=1)

    @classmethod
    def configured(cls, settings: Settings) -> SessionRules:
        return cls(timedelta(minutes=settings.session_idle_minutes), timedelta(hours=settings.session_lifetime_hours),
                   timedelta(minutes=settings.shared_device_idle_minutes),
                   timedelta(hours=settings.shared_device_lifetime_hours))

    def of(self, shared: bool) -> tuple[timedelta, timedelta]:
        return (self.shared_idle, self.shared_lifetime) if shared else (self.idle, self.lifetime)


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def begin(engine: Engine, principal: Principal, now: datetime, rules: SessionRules, *, method: str,
          shared: bool = False, provider_session: str | None = None) -> tuple[str, timedelta]:
    """A new session for the member, who has just proved who they are by `method`, and how long
    its cookie may live. `provider_session`: their identity provider's session (single sign-on),
    whose back-channel sign-out ends this one."""
    token = secrets.token_urlsafe(32)
    idle, lifetime = rules.of(shared)
    with engine.begin() as connection:
        connection.execute(page_sessions.insert().values(
            token_sha256=_sha(token), member_id=principal.member_id, method=method, csrf=secrets.token_urlsafe(32),
            created_at=now, expires_at=now + lifetime, last_seen_at=now, idle_s=int(idle.total_seconds()),
            authenticated_at=now, provider_session=provider_session))
        account_event(connection, organisation=principal.organisation, actor=principal.member_id,
                      action="session.signed_in", now=now, member_id=principal.member_id,
                      detail=f"{method}{', shared computer' if shared else ''}")
    return token, lifetime


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    csrf: str  # the forms' token
    authenticated_at: datetime  # when the member last proved who they are in it

    def recently_authenticated(self, now: datetime) -> bool:
        return now - self.authenticated_at <= REAUTHENTICATE


def current(engine: Engine, token: str | None, now: datetime) -> Session | None:
    """The signed-in member's session, or None: one query for the session and the member."""
    if not token:
        return None
    sha = _sha(token)
    with engine.connect() as connection:
        row = connection.execute(
            select(page_sessions.c.member_id, page_sessions.c.csrf, page_sessions.c.last_seen_at,
                   page_sessions.c.idle_s, page_sessions.c.authenticated_at, page_sessions.c.created_at,
                   members.c.organisation, members.c.data_protection_lead, organisations.c.type)
            .join(members, members.c.member_id == page_sessions.c.member_id)
            .join(organisations, organisations.c.organisation == members.c.organisation)
            .where(page_sessions.c.token_sha256 == sha, page_sessions.c.ended_at.is_(None),
                   page_sessions.c.expires_at > now, members.c.removed_at.is_(None))).first()
    if row is None:
        return None
    if row.last_seen_at is not None and row.idle_s and now - row.last_seen_at > timedelta(seconds=row.idle_s):
        return None
    if row.last_seen_at is None or now - row.last_seen_at >= TOUCH_EVERY:
        # At most one write a minute a session: enough to tell 30 idle minutes from 29.
        with engine.begin() as connection:
            connection.execute(update(page_sessions).where(page_sessions.c.token_sha256 == sha)
                               .values(last_seen_at=now))
    return Session(principal_of(row.member_id, row), row.csrf, row.authenticated_at or row.created_at)


def reauthenticated(engine: Engine, token: str, now: datetime) -> None:
    """The member proved again who they are in this session (before an account change)."""
    with engine.begin() as connection:
        connection.execute(update(page_sessions).where(page_sessions.c.token_sha256 == _sha(token))
                           .values(authenticated_at=now))


def end(engine: Engine, token: str | None, now: datetime) -> None:
    """The member signs out of this browser."""
    if not token:
        return
    with engine.begin() as connection:
        row = connection.execute(
            select(page_sessions.c.member_id, members.c.organisation)
            .join(members, members.c.member_id == page_sessions.c.member_id)
            .where(page_sessions.c.token_sha256 == _sha(token), page_sessions.c.ended_at.is_(None))).first()
        if row is None:
            return
        connection.execute(update(page_sessions).where(page_sessions.c.token_sha256 == _sha(token))
                           .values(ended_at=now))
        account_event(connection, organisation=row.organisation, actor=row.member_id, action="session.signed_out",
                      now=now, member_id=row.member_id)


def end_provider_sessions(engine: Engine, provider_session: str, now: datetime) -> int:
    """End the sessions begun through an identity provider's session, which the member has just
    left there (back-channel sign-out); how many were open. Audited for each member."""
    with engine.begin() as connection:
        open_ones = connection.execute(
            select(page_sessions.c.token_sha256, page_sessions.c.member_id, members.c.organisation)
            .join(members, members.c.member_id == page_sessions.c.member_id)
            .where(page_sessions.c.provider_session == provider_session, page_sessions.c.ended_at.is_(None),
                   page_sessions.c.expires_at > now)).all()
        for row in open_ones:
            connection.execute(update(page_sessions).where(page_sessions.c.token_sha256 == row.token_sha256)
                               .values(ended_at=now))
            account_event(connection, organisation=row.organisation, actor=row.member_id,
                          action="session.signed_out", now=now, member_id=row.member_id,
                          detail="at their identity provider")
    return len(open_ones)


def end_member_sessions(engine: Engine, member_id: str, organisation: str, now: datetime, *, actor: str,
                        action: str) -> int:
    """End every session of a member, in every browser ("sign out everywhere", or an admin's
    "this phone was lost"); how many were open. Audited as `action`."""
    with engine.begin() as connection:
        ended = connection.execute(update(page_sessions).where(
            page_sessions.c.member_id == member_id, page_sessions.c.ended_at.is_(None),
            page_sessions.c.expires_at > now).values(ended_at=now)).rowcount
        account_event(connection, organisation=organisation, actor=actor, action=action, now=now,
                      member_id=member_id, detail=f"{ended} sessions ended")
    return ended
