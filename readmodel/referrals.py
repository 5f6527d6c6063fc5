"""Reading referrals: one by its id, and an organisation's inbox (received) or sent list."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import Engine, select

from journey.state import Referral, referral_status
from readmodel.tables import referrals
from schemas.events import DeclineReason, ReferralDetails
from schemas.submissions import ReferralSubmission

Answer = Literal["accepted", "declined", "withdrawn"]


class ReferralRefused(Exception):
    """An answer the API refuses before it reaches Kafka: `status` is the HTTP status, `field`
    the body field at fault (for a 422)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


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


def answer_submission(engine: Engine, organisation: str, referral_id: UUID, what: Answer, occurred_at: datetime,
                      decline_reason: DeclineReason | None, event_id: UUID | None = None) -> ReferralSubmission:
    """The event answering a referral, if this organisation may give that answer now: the
    receiver accepts or declines (with a reason), the maker withdraws, while the referral is open
    as of when the answer was given (a phone offline sends it late, and the journey judges it so)."""
    row = find_referral(engine, referral_id)
    answering = (row.from_organisation if what == "withdrawn" else row.to_organisation) if row else None
    if row is None or answering != organisation:
        # Not made to (or by) this organisation: the same answer as for no referral at all.
        raise ReferralRefused(404, "no such referral for this organisation (a new referral takes a moment to arrive)")
    if occurred_at < row.made_at:
        raise ReferralRefused(422, "is before the referral was made", "occurred_at")
    if (current := status_now(row, occurred_at)) != "open":
        raise ReferralRefused(409, f"the referral is {current}")
    if what == "declined" and decline_reason is None:
        raise ReferralRefused(422, "a decline needs a reason", "decline_reason")
    return ReferralSubmission(
        event_id=event_id, person_id=UUID(row.person_id), occurred_at=occurred_at, what=what,
        details=ReferralDetails(referral=referral_id, decline_reason=decline_reason))
