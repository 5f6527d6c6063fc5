"""Reading referrals: one by its id, and an organisation's inbox (received) or sent list."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import Engine, select

from journey.state import Referral, referral_status
from schemas.read_model import referrals


def find_referral(engine: Engine, referral_id: UUID) -> Any:
    with engine.connect() as connection:
        return connection.execute(select(referrals).where(referrals.c.referral_id == str(referral_id))).first()


def status_now(row: Any, now: datetime) -> str:
    """A row's status at `now`: an open referral past its expiry has expired."""
    return referral_status(Referral(
        referral_id=UUID(row.referral_id), from_organisation=row.from_organisation, to_organisation=row.to_organisation,
        made_at=row.made_at, expires_at=row.expires_at, status=row.status), now)


def referrals_of(engine: Engine, organisation: str, box: Literal["received", "sent"], limit: int = 200) -> list[Any]:
    """The organisation's received (inbox) or sent referrals, newest first."""
    mine = referrals.c.to_organisation if box == "received" else referrals.c.from_organisation
    with engine.connect() as connection:
        return list(connection.execute(
            select(referrals).where(mine == organisation).order_by(referrals.c.made_at.desc()).limit(limit)).all())
