"""Referrals nobody answered in time expire: the worker's timer records `referral.expired`.

A referral past its expiry already reads "expired" (journey/state.referral_status); the event
makes it so in every journey, fold and partner's feed too, and lets the consent that went with
it lapse. It is sent to intake like any event, keyed by the person, with an id derived from the
referral, so two workers (or a worker after a crash) sending it again change nothing. Its time
is the expiry itself, so an acceptance that arrives late from an offline phone still finds the
referral open before that moment and closed after it, whatever the arrival order."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Engine as SQLEngine
from sqlalchemy import select

from readmodel.tables import referrals
from schemas.events import ReferralDetails, ReferralRecorded, encode_event
from schemas.ids import referral_expired_id
from schemas.settings import Settings
from schemas.topics import INTAKE
from streams.runtime import Engine

log = logging.getLogger("journeys.referrals")

AT_ONCE = 500  # referrals expired a round: a backlog goes over several rounds


def _due(read_model: SQLEngine, now: datetime) -> list[tuple[str, str, datetime]]:
    with read_model.connect() as connection:
        return [tuple(r) for r in connection.execute(
            select(referrals.c.referral_id, referrals.c.person_id, referrals.c.expires_at)
            .where(referrals.c.status == "open", referrals.c.expires_at <= now)
            .order_by(referrals.c.expires_at).limit(AT_ONCE))]


async def expire_referrals(settings: Settings, read_model: SQLEngine, engine: Engine) -> int:
    """Sends `referral.expired` for each open referral past its expiry; how many."""
    now = datetime.now(UTC)
    due = await asyncio.get_running_loop().run_in_executor(None, _due, read_model, now)
    for referral_id, person_id, expires_at in due:
        expired = ReferralRecorded(
            id=referral_expired_id(referral_id), type="referral.expired", source="journeys", actor="referral timer",
            subject=UUID(person_id), time=expires_at, recorded_at=now,
            data=ReferralDetails(referral=UUID(referral_id)))
        await engine.send(settings.topic(INTAKE), person_id.encode(), encode_event(expired))
    if due:
        log.info("%d referrals expired", len(due))
    return len(due)
