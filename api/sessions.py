"""Members signed in to the pages: a sign-in with the member's key makes a short-lived session
(a random token in an HttpOnly cookie; only its SHA-256 is stored). Every page request checks
the session and that the member's key is still live, so revoking the key or removing the member
signs them out at once, in every API process."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from readmodel.keys import Principal, live_key
from readmodel.tables import page_sessions

COOKIE = "journeys_session"
LIFETIME = timedelta(hours=8)  # a shift


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def begin(engine: Engine, principal: Principal, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    with engine.begin() as connection:
        connection.execute(page_sessions.insert().values(
            token_sha256=_sha(token), key_id=principal.key_id, csrf=secrets.token_urlsafe(32), created_at=now,
            expires_at=now + LIFETIME))
    return token


def current(engine: Engine, token: str | None, now: datetime) -> tuple[Principal, str] | None:
    """The signed-in member and their forms' CSRF token, or None."""
    if not token:
        return None
    with engine.connect() as connection:
        row = connection.execute(select(page_sessions).where(
            page_sessions.c.token_sha256 == _sha(token), page_sessions.c.ended_at.is_(None),
            page_sessions.c.expires_at > now)).first()
    if row is None:
        return None
    principal = live_key(engine, row.key_id, now)
    return (principal, row.csrf) if principal else None


def end(engine: Engine, token: str | None, now: datetime) -> None:
    if token:
        with engine.begin() as connection:
            connection.execute(update(page_sessions).where(page_sessions.c.token_sha256 == _sha(token))
                               .values(ended_at=now))
