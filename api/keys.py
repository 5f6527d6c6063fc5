"""API keys: issued to an organisation with a role, stored only as a hash, checked per request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Engine, select

from schemas.read_model import api_keys

PREFIX = "jk"


class Role(StrEnum):
    """What a key may do. Access rules grow here, behind one dependency."""

    OUTREACH = "outreach"  # outreach teams: record contacts, read journeys
    FRONTLINE = "frontline"  # "eyes and ears" staff: report sightings
    POLICE = "police"  # report sightings
    COUNCIL = "council"  # housing options: read journeys
    CHARITY = "charity"  # partner charities: read journeys
    PUBLIC = "public"  # public reporting app: report sightings
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    key_id: str
    organisation: str
    role: Role


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key(engine: Engine, *, organisation: str, role: Role, now: datetime) -> str:
    """Create a key and return it; this is the only time its secret is seen."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    with engine.begin() as connection:
        connection.execute(
            api_keys.insert().values(
                key_id=key_id,
                secret_sha256=_digest(secret),
                organisation=organisation,
                role=role.value,
                created_at=now,
            )
        )
    return f"{PREFIX}_{key_id}_{secret}"


def authenticate(engine: Engine, token: str) -> Principal | None:
    """The principal a presented key belongs to, or None when it is unknown or revoked."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not key_id or not secret:
        return None
    with engine.connect() as connection:
        row = connection.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        return None
    return Principal(key_id=row.key_id, organisation=row.organisation, role=Role(row.role))
