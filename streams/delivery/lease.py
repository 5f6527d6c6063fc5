"""Claiming due deliveries under a lease (a deliverer killed mid-flight leaves the lease to run out,
and the delivery is sent again under the same webhook-id), and settling what each try found."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, bindparam, exists, func, select, update
from sqlalchemy.orm import aliased

from journey.delivery import Answer, next_try
from readmodel.subscriptions import stop
from readmodel.tables import deliveries, delivery_attempts, subscriptions


@dataclass(frozen=True, slots=True)
class Due:
    position: int
    delivery_id: str
    subscription_id: str
    person_id: str
    event_id: str
    event_type: str
    refolded: bool
    attempts: int


def claim(engine: Engine, *, room: dict[str, int], default_room: int, lease: timedelta, now: datetime) -> list[Due]:
    """Lease the deliveries to send now: per active subscription, up to its free slots, the oldest
    pending delivery of each person (a person's later deliveries wait behind it, so they arrive in
    order), due and not leased by another deliverer."""
    earlier = aliased(deliveries)
    unleased = deliveries.c.leased_until.is_(None) | (deliveries.c.leased_until < now)
    token = uuid.uuid4().hex  # this claim's: another deliverer's concurrent claim takes other rows
    head = (
        select(deliveries.c.position,
               func.row_number().over(partition_by=deliveries.c.subscription_id,
                                      order_by=deliveries.c.position).label("n"))
        .join(subscriptions, subscriptions.c.subscription_id == deliveries.c.subscription_id)
        .where(subscriptions.c.status == "active", deliveries.c.status == "pending",
               # A subscription with every slot in flight is not looked at: a slow endpoint's
               # backlog costs the others nothing.
               deliveries.c.subscription_id.in_([s for s, n in room.items() if n > 0]),
               deliveries.c.next_try_at <= now, unleased,
               ~exists().where(and_(earlier.c.subscription_id == deliveries.c.subscription_id,
                                    earlier.c.person_id == deliveries.c.person_id,
                                    earlier.c.status == "pending", earlier.c.position < deliveries.c.position)))
        .subquery()
    )
    with engine.begin() as connection:
        rows = connection.execute(
            select(deliveries).join(head, head.c.position == deliveries.c.position)
            .where(head.c.n <= default_room).order_by(deliveries.c.position)
        ).all()
        taken: Counter[str] = Counter()
        chosen = []
        for row in rows:
            if taken[row.subscription_id] < room.get(row.subscription_id, default_room):
                taken[row.subscription_id] += 1
                chosen.append(row.position)
        if not chosen:
            return []
        connection.execute(
            update(deliveries).where(deliveries.c.position.in_(chosen), deliveries.c.status == "pending", unleased)
            .values(leased_until=now + lease, leased_by=token))
        leased = connection.execute(
            select(deliveries).where(deliveries.c.position.in_(chosen), deliveries.c.leased_by == token)
            .order_by(deliveries.c.position)
        ).all()
    return [Due(position=r.position, delivery_id=r.delivery_id, subscription_id=r.subscription_id,
                person_id=r.person_id, event_id=r.event_id, event_type=r.event_type, refolded=bool(r.refolded),
                attempts=r.attempts) for r in leased]


@dataclass(frozen=True, slots=True)
class Tried:
    due: Due
    answer: Answer | None  # None: withheld by the policy, nothing sent
    status_code: int | None
    error: str | None
    took_ms: int


def settle(engine: Engine, tried: Sequence[Tried], now: datetime) -> None:
    """Record attempts and what follows from them, in one transaction."""
    done = {"status": bindparam("status_"), "done_at": bindparam("done_"), "attempts": bindparam("attempts_"),
            "next_try_at": bindparam("next_"), "leased_until": None, "leased_by": None}
    rows, attempts, gone = [], [], []
    for t in tried:
        due = t.due
        row = {"position_": due.position, "status_": "pending", "done_": None, "attempts_": due.attempts,
               "next_": now}
        if t.answer is None:
            row |= {"status_": "withheld", "done_": now}
        else:
            attempts.append({"delivery_id": due.delivery_id, "subscription_id": due.subscription_id, "at": now,
                             "status_code": t.status_code, "error": t.error, "answer": t.answer.value,
                             "took_ms": t.took_ms})
            row["attempts_"] = due.attempts + 1
            if t.answer is Answer.DELIVERED:
                row |= {"status_": "delivered", "done_": now}
            elif t.answer is Answer.RETRY and (later := next_try(due.attempts + 1, now)) is not None:
                row["next_"] = later
            else:
                row |= {"status_": "failed", "done_": now}
            if t.answer is Answer.GONE:
                gone.append(due.subscription_id)
        rows.append(row)
    with engine.begin() as connection:
        if attempts:
            connection.execute(delivery_attempts.insert(), attempts)
        if rows:
            connection.execute(update(deliveries).where(deliveries.c.position == bindparam("position_"))
                               .values(**done), rows)
        for subscription_id in set(gone):
            stop(connection, subscription_id, "disabled", "the endpoint answered 410 Gone", now)
