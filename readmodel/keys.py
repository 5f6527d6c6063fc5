"""Organisations, their members, and the members' API keys (stored only as a hash).

Every key belongs to one member of one organisation: the member is the `actor` of what they
record and of every read in the audit. A key is checked on every request against its row as the
database held it at most `KeyCheck`'s second ago, so an expired key fails at once, and a revoked
key (or a removed member's) at once in the process that revoked it and within a second in every
other API process.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from journey.policy import Viewer
from readmodel.tables import account_events, api_keys, members, organisations, page_sessions, subscriptions
from schemas.sharing import OrganisationType

# A key's role is its organisation's type: what the organisation may do and see.
Role = OrganisationType

PREFIX = "jk"


@dataclass(frozen=True)
class Principal:
    key_id: str
    member_id: str
    organisation: str
    role: Role
    data_protection_lead: bool = False
    key_expires_at: datetime | None = None  # a key a member issues themself never outlives this one

    @property
    def viewer(self) -> Viewer:
        return Viewer(member=self.member_id, organisation=self.organisation, type=self.role)


class AccountError(ValueError):
    """A request about organisations, members or keys that cannot be met (the text says why)."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# Who did an account change that no member did: the command line, run by an operator.
OPERATOR = "operator"


def account_event(connection: Connection, *, organisation: str, actor: str, action: str, now: datetime,
                  member_id: str | None = None, key_id: str | None = None, detail: str | None = None) -> int:
    """One row of the account audit, in the caller's transaction; its entry id."""
    done = connection.execute(account_events.insert().values(
        at=now, organisation=organisation, actor=actor, action=action, member_id=member_id, key_id=key_id,
        detail=detail))
    return int(done.inserted_primary_key[0])


def add_member(engine: Engine, *, organisation: str, organisation_type: Role, name: str, now: datetime,
               data_protection_lead: bool = False, email: str | None = None, sign_in_name: str | None = None,
               actor: str = OPERATOR) -> str:
    """A new member of an organisation (made on first use, with its type); returns the member id."""
    member_id = f"m{secrets.token_hex(8)}"
    with engine.begin() as connection:
        known = connection.execute(
            select(organisations.c.type).where(organisations.c.organisation == organisation)).scalar()
        if known is None:
            connection.execute(organisations.insert().values(
                organisation=organisation, type=organisation_type.value, created_at=now))
        elif known != organisation_type.value:
            raise AccountError(f"organisation {organisation!r} is of type {known}, not {organisation_type.value}")
        _sign_in_name_free(connection, organisation, sign_in_name)
        connection.execute(members.insert().values(
            member_id=member_id, organisation=organisation, name=name,
            data_protection_lead=int(data_protection_lead), created_at=now, email=email, sign_in_name=sign_in_name))
        account_event(connection, organisation=organisation, actor=actor, action="member.added", now=now,
                      member_id=member_id, detail="data protection lead" if data_protection_lead else None)
    return member_id


def _sign_in_name_free(connection: Connection, organisation: str, sign_in_name: str | None) -> None:
    if sign_in_name is not None and connection.execute(select(members.c.member_id).where(
            members.c.organisation == organisation, members.c.sign_in_name == sign_in_name)).first():
        raise AccountError("another member of the organisation has that sign-in name")


def set_sign_in_name(engine: Engine, member_id: str, sign_in_name: str | None, *, actor: str, now: datetime) -> None:
    """Who the member is at their organisation's identity provider (None: they no longer sign in
    through it). Their sessions begun through it end. Audited, without the name."""
    with engine.begin() as connection:
        member = connection.execute(select(members).where(members.c.member_id == member_id)).one()
        if member.sign_in_name == sign_in_name:
            return
        _sign_in_name_free(connection, member.organisation, sign_in_name)
        connection.execute(update(members).where(members.c.member_id == member_id).values(sign_in_name=sign_in_name))
        connection.execute(update(page_sessions).where(
            page_sessions.c.member_id == member_id, page_sessions.c.method == "single_sign_on",
            page_sessions.c.ended_at.is_(None)).values(ended_at=now))
        account_event(connection, organisation=member.organisation, actor=actor, action="member.sign_in_name_set",
                      now=now, member_id=member_id, detail="set" if sign_in_name else "cleared")


def member_of(engine: Engine, member_id: str) -> Any:
    """A member still on the platform (organisation, data protection lead), or None."""
    with engine.connect() as connection:
        return connection.execute(select(members).where(
            members.c.member_id == member_id, members.c.removed_at.is_(None))).first()


def remove_member(engine: Engine, member_id: str, *, actor: str, now: datetime) -> dict[str, int] | None:
    """Removes a member: their keys are revoked, their page sessions ended and the subscriptions
    they made (which read as them) disabled, in one transaction, and the change audited. None when
    there is no such member."""
    with engine.begin() as connection:
        member = connection.execute(select(members).where(
            members.c.member_id == member_id, members.c.removed_at.is_(None))).first()
        if member is None:
            return None
        connection.execute(update(members).where(members.c.member_id == member_id).values(removed_at=now))
        revoked = connection.execute(update(api_keys).where(
            api_keys.c.member_id == member_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=now)).rowcount
        ended = connection.execute(update(page_sessions).where(
            page_sessions.c.member_id == member_id, page_sessions.c.ended_at.is_(None)).values(ended_at=now)).rowcount
        disabled = connection.execute(update(subscriptions).where(
            subscriptions.c.created_by == member_id, subscriptions.c.status.in_(("active", "paused")))
            .values(status="disabled", status_reason="the member who made it was removed", changed_at=now)).rowcount
        done = {"keys": revoked, "sessions": ended, "subscriptions": disabled}
        account_event(connection, organisation=member.organisation, actor=actor, action="member.removed", now=now,
                      member_id=member_id, detail=", ".join(f"{n} {what}" for what, n in done.items()))
    return done


def issue_member_key(engine: Engine, *, member_id: str, now: datetime, expires_at: datetime | None = None,
                     actor: str = OPERATOR) -> str:
    """A key for an existing member; this is the only time its secret is seen."""
    with engine.begin() as connection:
        row = connection.execute(
            select(members.c.organisation, organisations.c.type)
            .join(organisations, organisations.c.organisation == members.c.organisation)
            .where(members.c.member_id == member_id, members.c.removed_at.is_(None))
        ).first()
        if row is None:
            raise AccountError("no such member")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        connection.execute(api_keys.insert().values(
            key_id=key_id, secret_sha256=_digest(secret), organisation=row.organisation, role=row.type,
            member_id=member_id, created_at=now, expires_at=expires_at))
        account_event(connection, organisation=row.organisation, actor=actor, action="key.issued", now=now,
                      member_id=member_id, key_id=key_id,
                      detail=f"expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "never expires")
    return f"{PREFIX}_{key_id}_{secret}"


def issue_key(engine: Engine, *, organisation: str, role: Role, now: datetime, member_name: str = "member",
              data_protection_lead: bool = False, expires_at: datetime | None = None, email: str | None = None) -> str:
    """A new member of the organisation and their first key (the CLI's and the tests' way in)."""
    member_id = add_member(engine, organisation=organisation, organisation_type=role, name=member_name, now=now,
                           data_protection_lead=data_protection_lead, email=email)
    return issue_member_key(engine, member_id=member_id, now=now, expires_at=expires_at)


def service_member(engine: Engine, *, organisation: str, role: Role, name: str, now: datetime) -> Principal:
    """The member a part of the platform acts as (the public report form, Open311 without a
    partner's key): made on first use, so that what it records has a member as its actor."""
    with engine.connect() as connection:
        member_id = connection.execute(select(members.c.member_id).where(
            members.c.organisation == organisation, members.c.name == name, members.c.removed_at.is_(None))).scalar()
    if member_id is None:
        member_id = add_member(engine, organisation=organisation, organisation_type=role, name=name, now=now)
    return Principal(key_id="", member_id=member_id, organisation=organisation, role=role)


def key_id_of(token: str) -> str:
    return token.split("_")[1]


def revoke_key(engine: Engine, key_id: str, now: datetime, actor: str = OPERATOR) -> bool:
    """Revoke a key; False when there is no such live key."""
    with engine.begin() as connection:
        row = connection.execute(select(api_keys.c.organisation, api_keys.c.member_id).where(
            api_keys.c.key_id == key_id)).first()
        done = connection.execute(
            update(api_keys).where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now))
        if done.rowcount == 1:
            account_event(connection, organisation=row.organisation, actor=actor, action="key.revoked", now=now,
                          member_id=row.member_id, key_id=key_id)
    return done.rowcount == 1


def _key_row(engine: Engine, key_id: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            select(api_keys, members.c.data_protection_lead, members.c.removed_at.label("member_removed_at"))
            .join(members, members.c.member_id == api_keys.c.member_id)
            .where(api_keys.c.key_id == key_id)
        ).first()


def _live(row: Any, now: datetime) -> Principal | None:
    if row is None or row.revoked_at is not None or row.member_removed_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    return Principal(key_id=row.key_id, member_id=row.member_id, organisation=row.organisation, role=Role(row.role),
                     data_protection_lead=bool(row.data_protection_lead), key_expires_at=row.expires_at)


def live_key(engine: Engine, key_id: str, now: datetime) -> Principal | None:
    """The principal of a key (by id: its secret was checked at sign-in), while it is live."""
    return _live(_key_row(engine, key_id), now)


def authenticate(engine: Engine, token: str, now: datetime) -> Principal | None:
    """The principal a presented key belongs to, or None when it is unknown, revoked, expired or
    its member removed."""
    key_id, secret = _parts(token)
    return None if key_id is None else _checked(_key_row(engine, key_id), secret, now)




class KeyCheck:
    """`authenticate` with the rows of the keys used in the last `fresh_s` seconds kept: a
    request with such a key costs no database read (one each was a third of the API's time).
    Their secrets are still checked every time, and their expiry against the time of the request."""

    MOST = 10_000  # keys kept at once: a flood of unknown keys cannot grow it without bound

    def __init__(self, engine: Callable[[], Engine], fresh_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._engine, self._fresh_s, self._clock = engine, fresh_s, clock
        self._rows: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        # The reads of a key's row under way, by key id: the requests that find its row stale
        # while one is read wait for that read (each reading it again in a thread of its own was a
        # quarter of the API's samples at 600 submissions/s).
        self._reading: dict[str, asyncio.Future[Any]] = {}
        self._generation = 0  # counts `forget`s: a read begun before one keeps nothing

    def known(self, token: str, now: datetime) -> Principal | None | bool:
        """The answer from a kept row, or False when there is none fresh (ask `check`)."""
        key_id, secret = _parts(token)
        if key_id is None:
            return None
        kept = self._rows.get(key_id)
        if kept is None or kept[0] <= self._clock():
            return False
        return _checked(kept[1], secret, now)

    async def check(self, token: str, now: datetime) -> Principal | None:
        """The answer from a kept row, else from the database's, read in a thread once for all
        the requests with that key that ask meanwhile."""
        answer = self.known(token, now)
        if answer is not False:
            return answer  # type: ignore[return-value]
        key_id, secret = _parts(token)
        assert key_id is not None  # known() answered None for a token without one
        reading = self._reading.get(key_id)
        if reading is None:
            reading = asyncio.ensure_future(asyncio.to_thread(self._read, key_id, self._generation))
            self._reading[key_id] = reading
            reading.add_done_callback(partial(self._read_done, key_id))
        # Shielded: one request given up on (its client went away) does not cancel the others' read.
        return _checked(await asyncio.shield(reading), secret, now)

    def _read_done(self, key_id: str, reading: asyncio.Future[Any]) -> None:
        if self._reading.get(key_id) is reading:
            del self._reading[key_id]

    def _read(self, key_id: str, generation: int) -> Any:
        row = _key_row(self._engine(), key_id)
        with self._lock:
            if generation == self._generation:
                if len(self._rows) >= self.MOST:
                    self._rows.clear()
                self._rows[key_id] = (self._clock() + self._fresh_s, row)
        return row

    def forget(self) -> None:
        """Keys or members changed in this process: read every key again (a read begun before
        is neither kept nor waited for by a later request)."""
        with self._lock:
            self._rows.clear()
            self._generation += 1
            self._reading.clear()


def _parts(token: str) -> tuple[str | None, str]:
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not key_id or not secret:
        return None, ""
    return key_id, secret


def _checked(row: Any, secret: str, now: datetime) -> Principal | None:
    if row is None or not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        return None
    return _live(row, now)
