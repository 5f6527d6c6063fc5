"""The outbox: one pending delivery per applied event per subscription that wants its kind (ids only,
no payload), written in the follow stage's transaction with the projection it announces; and the
subscriptions as the worker reads them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from journey.applied import Applied
from journey.delivery import Scope, Wanted, update_of, wants
from journey.policy import Viewer, may_be_told, recorded_by
from readmodel.subscriptions import wanted_of
from readmodel.tables import deliveries, organisations, subscriptions
from readmodel.writes import dialect_insert
from schemas.ids import delivery_id
from schemas.sharing import OrganisationType
from streams.reporters import make_notices


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    viewer: Viewer  # the member who made it, of its organisation: whose reads the audit records
    url: str
    secrets: tuple[str, ...]
    wanted: Wanted


def load_subscriptions(engine: Engine, statuses: Sequence[str], now: datetime) -> list[Subscription]:
    with engine.connect() as connection:
        return subscriptions_in(connection, statuses, now)


def subscriptions_in(connection: Connection, statuses: Sequence[str], now: datetime) -> list[Subscription]:
    rows = connection.execute(
        select(subscriptions, organisations.c.type)
        .join(organisations, organisations.c.organisation == subscriptions.c.organisation)
        .where(subscriptions.c.status.in_(statuses))
    ).all()
    found = []
    for row in rows:
        secrets = (row.secret,)
        if row.previous_secret and row.previous_until and row.previous_until > now:
            secrets = (row.secret, row.previous_secret)
        found.append(Subscription(
            subscription_id=row.subscription_id,
            viewer=Viewer(member=row.created_by, organisation=row.organisation, type=OrganisationType(row.type)),
            url=row.url, secrets=secrets, wanted=wanted_of(row),
        ))
    return found


@dataclass(frozen=True, slots=True)
class Pushed:
    deliveries: int
    notices: int


def push(connection: Connection, applied: Sequence[Applied], now: datetime) -> Pushed:
    """In the journey stage's transaction: a pending delivery for each applied event and each
    subscription that wants its kind, and a notice for each report outcome. Paused subscriptions
    keep collecting: resuming sends what happened meanwhile. A redelivered batch makes the same
    delivery ids, so nothing is queued twice."""
    wanting = subscriptions_in(connection, ("active", "paused"), now) if applied else []
    # Without a subscription only report outcomes are looked at (making every Update was a tenth of
    # the read model's write).
    told = [(a, update_of(a.entry, a.event, a.refolded)) for a in applied
            if wanting or a.entry.type == "report.outcome"]
    updates = [u for _, u in told]
    # Pushes follow reads: a delivery is queued only for a subscriber that may see the person now
    # (the policy is asked again when it is sent), so no row names a person it may not see.
    rows = [
        {"delivery_id": delivery_id(s.subscription_id, u.event_id, u.sequence, u.refolded),
         "subscription_id": s.subscription_id, "person_id": u.person_id, "event_id": u.event_id,
         "event_type": u.event_type, "refolded": int(u.refolded), "status": "pending", "attempts": 0,
         "created_at": now, "next_try_at": now}
        for a, u in told
        for s in wanting
        if wants(s.wanted, event_type=u.event_type, stage=u.stage, area=u.area)
        and may_be_told(s.viewer, a.journey, now, own=recorded_by({"source": a.entry.source, "type": a.entry.type},
                                                                  s.viewer),
                        related_only=s.wanted.scope is Scope.RELATED)
    ]
    if rows:
        connection.execute(
            dialect_insert(connection.engine)(deliveries).on_conflict_do_nothing(index_elements=["delivery_id"]), rows)
    outcomes = [{"report_id": u.report_id, "person_id": u.person_id} for u in updates
                if u.event_type == "report.outcome" and u.report_id and not u.refolded]
    make_notices(connection, outcomes, now)
    return Pushed(deliveries=len(rows), notices=len(outcomes))
