"""Partners' subscriptions in the database: made, paused, resumed, re-keyed, stopped, replayed.

The deliverer (streams/delivery/) reads the same rows; stopping a subscription cancels what is
pending in the same transaction, so the deliverer's next look (within WEBHOOK_POLL_S) finds
nothing to send.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from journey.delivery import Scope, Wanted, area_of, wants
from readmodel.tables import deliveries, subscriptions, timeline_entries
from schemas.ids import delivery_id

# After a rotation the old secret also signs for a day: the partner's receiver can take the new
# one at its own pace, and no delivery fails verification meanwhile.
ROTATION_OVERLAP = timedelta(hours=24)
# A replay makes at most this many deliveries: a partner needing more asks for shorter spans.
REPLAY_LIMIT = 20_000


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def create(engine: Engine, *, organisation: str, member_id: str, url: str, wanted: Wanted,
           now: datetime) -> tuple[str, str]:
    subscription_id, secret = str(uuid.uuid4()), new_secret()
    with engine.begin() as connection:
        connection.execute(subscriptions.insert().values(
            subscription_id=subscription_id, organisation=organisation, created_by=member_id, url=url, secret=secret,
            families=",".join(sorted(wanted.families)), stages=",".join(sorted(wanted.stages)),
            areas=",".join(sorted(wanted.areas)), scope=wanted.scope.value, status="active", created_at=now,
            changed_at=now))
    return subscription_id, secret


def wanted_of(row: Any) -> Wanted:
    def split(text: str) -> frozenset[str]:
        return frozenset(part for part in text.split(",") if part)

    return Wanted(families=split(row.families), stages=split(row.stages), areas=split(row.areas),
                  scope=Scope(row.scope))


def find(engine: Engine, organisation: str, subscription_id: str) -> Any:
    """The organisation's subscription (never another's), unless deleted."""
    with engine.connect() as connection:
        return connection.execute(select(subscriptions).where(
            subscriptions.c.subscription_id == subscription_id, subscriptions.c.organisation == organisation,
            subscriptions.c.status != "deleted")).first()


def set_status(engine: Engine, subscription_id: str, status: str, reason: str | None, now: datetime) -> None:
    with engine.begin() as connection:
        connection.execute(update(subscriptions).where(subscriptions.c.subscription_id == subscription_id)
                           .values(status=status, status_reason=reason, changed_at=now))


def stop(connection: Connection, subscription_id: str, status: str, reason: str, now: datetime) -> None:
    """Disable (410 from the endpoint) or delete a subscription: nothing pending is sent."""
    connection.execute(update(subscriptions).where(subscriptions.c.subscription_id == subscription_id)
                       .values(status=status, status_reason=reason, changed_at=now))
    connection.execute(update(deliveries).where(deliveries.c.subscription_id == subscription_id,
                                                deliveries.c.status == "pending")
                       .values(status="cancelled", done_at=now))


def rotate(engine: Engine, subscription_id: str, now: datetime) -> tuple[str, datetime]:
    secret = new_secret()
    with engine.begin() as connection:
        old = connection.execute(select(subscriptions.c.secret).where(
            subscriptions.c.subscription_id == subscription_id)).scalar_one()
        connection.execute(update(subscriptions).where(subscriptions.c.subscription_id == subscription_id).values(
            secret=secret, previous_secret=old, previous_until=now + ROTATION_OVERLAP, changed_at=now))
    return secret, now + ROTATION_OVERLAP


def replay(engine: Engine, subscription_id: str, wanted: Wanted, since: datetime, now: datetime, *,
           told: Callable[[set[str]], frozenset[str]]) -> int:
    """Deliver again every update recorded since `since` that the subscription wants, about the
    people `told` says the subscriber may be told about now (api/sharing.told_people), under new
    webhook-ids (the partner asked for them again), each person's in timeline order, after
    anything already pending. The policy is asked again when each is sent."""
    replay_id = uuid.uuid4().hex
    with engine.begin() as connection:
        entries = connection.execute(
            select(timeline_entries.c.event_id, timeline_entries.c.person_id, timeline_entries.c.type,
                   timeline_entries.c.sequence, timeline_entries.c.stage, timeline_entries.c.data)
            .where(timeline_entries.c.recorded_at >= since)
            .order_by(timeline_entries.c.person_id, timeline_entries.c.occurred_at, timeline_entries.c.sequence)
            .limit(REPLAY_LIMIT)
        ).all()
        people = told({e.person_id for e in entries})
        rows = [{
            "delivery_id": delivery_id(subscription_id, e.event_id, e.sequence, False, replay=replay_id),
            "subscription_id": subscription_id, "person_id": e.person_id, "event_id": e.event_id,
            "event_type": e.type, "refolded": 0, "status": "pending", "attempts": 0, "next_try_at": now,
            "created_at": now,
        } for e in entries
            if e.person_id in people and wants(wanted, event_type=e.type, stage=e.stage, area=area_of(e.data or {}))]
        if rows:
            connection.execute(insert(deliveries), rows)
    return len(rows)
