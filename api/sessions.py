"""Members signed in to the pages: a sign-in with the member's key makes a session (a random
token in an HttpOnly cookie; only its SHA-256 is stored) that ends after a while without use
and, in use or not, after a shift; sooner on a computer the member said is shared. Every page
request checks the session and that the member's key is still live, in the database, so a
revoked key, a removed member, "sign out everywhere" and an admin's "this phone was lost" end
it at the next request, in every API process. Sign-ins, sign-outs and sessions ended for a
member are in the account audit (never a key or a token)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from readmodel.keys import Principal, account_event, live_key
from readmodel.tables import api_keys, page_sessions
from schemas.settings import Settings

COOKIE = "journeys_session"
TOUCH_EVERY = timedelta(minutes=1)  # how often a page request records that the session is in use


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


def begin(engine: Engine, principal: Principal, now: datetime, rules: SessionRules, *,
          shared: bool = False) -> tuple[str, timedelta]:
    """A new session for the member, and how long its cookie may live."""
    token = secrets.token_urlsafe(32)
    idle, lifetime = rules.of(shared)
    with engine.begin() as connection:
        connection.execute(page_sessions.insert().values(
            token_sha256=_sha(token), key_id=principal.key_id, csrf=secrets.token_urlsafe(32), created_at=now,
            expires_at=now + lifetime, last_seen_at=now, idle_s=int(idle.total_seconds())))
        account_event(connection, organisation=principal.organisation, actor=principal.member_id,
                      action="session.signed_in", now=now, member_id=principal.member_id, key_id=principal.key_id,
                      detail="shared computer" if shared else None)
    return token, lifetime


def current(engine: Engine, token: str | None, now: datetime) -> tuple[Principal, str] | None:
    """The signed-in member and their forms' CSRF token, or None."""
    if not token:
        return None
    sha = _sha(token)
    with engine.connect() as connection:
        row = connection.execute(select(page_sessions).where(
            page_sessions.c.token_sha256 == sha, page_sessions.c.ended_at.is_(None),
            page_sessions.c.expires_at > now)).first()
    if row is None:
        return None
    if row.last_seen_at is not None and row.idle_s and now - row.last_seen_at > timedelta(seconds=row.idle_s):
        return None
    principal = live_key(engine, row.key_id, now)
    if principal is None:
        return None
    if row.last_seen_at is None or now - row.last_seen_at >= TOUCH_EVERY:
        # At most one write a minute a session: enough to tell 30 idle minutes from 29.
        with engine.begin() as connection:
            connection.execute(update(page_sessions).where(page_sessions.c.token_sha256 == sha)
                               .values(last_seen_at=now))
    return principal, row.csrf


def end(engine: Engine, token: str | None, now: datetime) -> None:
    """The member signs out of this browser."""
    if not token:
        return
    with engine.begin() as connection:
        row = connection.execute(
            select(page_sessions.c.key_id, api_keys.c.organisation, api_keys.c.member_id)
            .join(api_keys, api_keys.c.key_id == page_sessions.c.key_id)
            .where(page_sessions.c.token_sha256 == _sha(token), page_sessions.c.ended_at.is_(None))).first()
        if row is None:
            return
        connection.execute(update(page_sessions).where(page_sessions.c.token_sha256 == _sha(token))
                           .values(ended_at=now))
        account_event(connection, organisation=row.organisation, actor=row.member_id or "", action="session.signed_out",
                      now=now, member_id=row.member_id, key_id=row.key_id)


def end_member_sessions(engine: Engine, member_id: str, organisation: str, now: datetime, *, actor: str,
                        action: str) -> int:
    """End every session of a member, in every browser ("sign out everywhere", or an admin's
    "this phone was lost"); how many were open. Audited as `action`."""
    with engine.begin() as connection:
        keys = select(api_keys.c.key_id).where(api_keys.c.member_id == member_id)
        ended = connection.execute(update(page_sessions).where(
            page_sessions.c.key_id.in_(keys), page_sessions.c.ended_at.is_(None), page_sessions.c.expires_at > now)
            .values(ended_at=now)).rowcount
        account_event(connection, organisation=organisation, actor=actor, action=action, now=now,
                      member_id=member_id, detail=f"{ended} sessions ended")
    return ended
