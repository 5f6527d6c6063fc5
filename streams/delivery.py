"""Pushing journey updates to partners' endpoints as signed Standard Webhooks.

push (in the journey stage's transaction)        one pending row per applied event per subscription
                                                 that wants its kind; ids only, no payload (and a
                                                 notice per report outcome: streams/reporters.py)
Deliverer (a task of the worker)                 sends due deliveries, oldest first, one person at
                                                 a time per subscription; each subscription has
                                                 its own slots, so a slow or failing endpoint
                                                 delays nobody else

A delivery is leased before it is sent. A deliverer killed mid-flight leaves the lease to run
out, and the delivery is sent again under the same `webhook-id` (at-least-once, as the spec
allows). The payload is built through the sharing policy at the moment of sending. Deliveries
are written with the projection they announce, in one transaction: a partner is never told of
an entry the read model does not have, and no entry is stored without its deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from sqlalchemy import Connection, Engine, and_, bindparam, exists, func, select, update
from sqlalchemy.orm import aliased
from standardwebhooks import Webhook

from journey.applied import Applied
from journey.delivery import Answer, Scope, Wanted, judge, next_try, update_event, update_of, wants
from journey.policy import Viewer, may_be_told, recorded_by
from readmodel.sharing import Push, disclosed_updates
from readmodel.subscriptions import stop, wanted_of
from readmodel.tables import deliveries, delivery_attempts, organisations, subscriptions
from schemas.ids import delivery_id
from schemas.settings import Settings
from schemas.sharing import OrganisationType
from schemas.webhooks.targets import Targets, address_refused, url_refused
from streams.projector import dialect_insert
from streams.reporters import make_notices

log = logging.getLogger("journeys.delivery")

USER_AGENT = "journeys-webhooks/1"
# How long the deliverer trusts its list of subscriptions: a paused or deleted one is left out of
# the next claim at once anyway (the claim reads their status), this only spares a query a round.
SUBSCRIPTIONS_FRESH = timedelta(seconds=0.5)
# What of an endpoint's answer is read: only its status is used; a partner cannot make the
# deliverer hold more than this of a body in memory.
ANSWER_CAP = 64 * 1024


class PartnerResolver(AbstractResolver):
    """Resolves a partner's host name once and hands the connector only the addresses the
    targets rule allows, so the connection goes to an address that was checked (a name that
    answers 127.0.0.1 or 169.254.169.254 today, whatever it answered at registration, is refused)."""

    def __init__(self, targets: Targets) -> None:
        self.targets = targets
        self.inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: Any = 0) -> list[Any]:
        found = await self.inner.resolve(host, port, family)
        allowed = [r for r in found if address_refused(r["host"], self.targets) is None]
        if not allowed:
            raise RefusedAddress(host)
        return allowed

    async def close(self) -> None:
        await self.inner.close()


class RefusedAddress(OSError):
    """Every address the endpoint's name resolved to is inside the platform's network."""


def error_kind(failure: BaseException) -> str:
    """What went wrong, coarsely: a partner (or someone probing through a subscription) learns
    whether the endpoint answered, never which port was closed or what a certificate said."""
    if isinstance(failure, TimeoutError):
        return "timeout"
    if isinstance(failure, aiohttp.ClientConnectorDNSError) and isinstance(failure.os_error, RefusedAddress):
        return "refused-address"
    if isinstance(failure, aiohttp.ClientSSLError):
        return "tls"
    if isinstance(failure, aiohttp.ClientConnectorError):
        return "connect"
    return "protocol"


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


class Deliverer:
    """Sends due deliveries; one per worker process (several may run: leases keep them apart).

    Each round claims what is due, asks the policy about all of it at once, and starts a send
    per delivery; sends settle in batches, so a round's database work does not grow with the
    number of subscribers."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.wake = asyncio.Event()
        self.in_flight: Counter[str] = Counter()
        self.tasks: set[asyncio.Task[None]] = set()
        self.tried: list[Tried] = []
        self.settling = asyncio.Event()
        self.subscriptions: dict[str, Subscription] = {}
        self.loaded_at = datetime.min.replace(tzinfo=UTC)
        self.targets = Targets(loopback_http=settings.webhook_allow_loopback_http,
                               private=settings.webhook_allow_private)

    @property
    def lease(self) -> timedelta:
        # Longer than a send can take, so that a lease runs out only when its deliverer died.
        return timedelta(seconds=self.settings.webhook_timeout_s + 10)

    async def run(self) -> None:
        settler = asyncio.create_task(self._settle_batches())
        # aiohttp: on this machine it sent 4,500 to 9,000 requests/s where httpx sent 180 to 930,
        # falling as connections grew (bench/webhooks.py prints the baseline).
        timeout = aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s)
        connector = aiohttp.TCPConnector(limit=0, resolver=PartnerResolver(self.targets))
        async with aiohttp.ClientSession(timeout=timeout, connector=connector, headers={"user-agent": USER_AGENT},
                                         trust_env=False) as client:
            try:
                while True:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), self.settings.webhook_poll_s)
                    self.wake.clear()
                    await self.round(client)
            finally:
                for task in (*self.tasks, settler):
                    task.cancel()
                await asyncio.gather(*self.tasks, settler, return_exceptions=True)

    async def round(self, client: aiohttp.ClientSession) -> None:
        loop = asyncio.get_running_loop()
        now = datetime.now(UTC)
        slots = self.settings.webhook_in_flight
        if now - self.loaded_at > SUBSCRIPTIONS_FRESH:
            found = await loop.run_in_executor(None, load_subscriptions, self.engine, ("active",), now)
            self.subscriptions, self.loaded_at = {s.subscription_id: s for s in found}, now
        subscriptions = self.subscriptions
        room = {s: slots - self.in_flight[s] for s in subscriptions}
        if not any(n > 0 for n in room.values()):
            return
        due = await loop.run_in_executor(None, lambda: claim(
            self.engine, room=room, default_room=slots, lease=self.lease, now=now))
        due = [d for d in due if d.subscription_id in subscriptions]
        if not due:
            return
        pushes = [Push(subscriptions[d.subscription_id].viewer, d.person_id, d.event_id,
                       related_only=subscriptions[d.subscription_id].wanted.scope is Scope.RELATED,
                       endpoint=f"webhook {d.subscription_id}") for d in due]
        disclosed = await loop.run_in_executor(
            None, lambda: disclosed_updates(self.engine, pushes, settings=self.settings, now=now))
        for item, data in zip(due, disclosed, strict=True):
            if data is None:
                self._settled(Tried(item, None, None, None, 0))
                continue
            self.in_flight[item.subscription_id] += 1
            task = asyncio.create_task(self.deliver(client, subscriptions[item.subscription_id], item, data, now))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def _settled(self, tried: Tried) -> None:
        self.tried.append(tried)
        self.settling.set()

    async def _settle_batches(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.settling.wait()
            await asyncio.sleep(0.01)  # let the sends finishing together settle together
            self.settling.clear()
            batch, self.tried = self.tried, []
            try:
                await loop.run_in_executor(None, settle, self.engine, batch, datetime.now(UTC))
            except Exception:
                log.exception("%d deliveries could not be settled; their leases will run out and they are sent "
                              "again", len(batch))
            for tried in batch:
                if tried.answer is Answer.GONE:
                    log.warning("subscription %s disabled: its endpoint answered 410", tried.due.subscription_id)
                elif tried.answer is Answer.FAILED:
                    log.warning("delivery %s refused by its endpoint (HTTP %s); not retried",
                                tried.due.delivery_id, tried.status_code)
            self.wake.set()  # each person's next delivery may go now

    async def deliver(self, client: aiohttp.ClientSession, subscription: Subscription, due: Due, data: dict[str, Any],
                      now: datetime) -> None:
        try:
            event = update_event(event_id=due.delivery_id, event_type=due.event_type, person_id=due.person_id,
                                 refolded=due.refolded, disclosed=data, now=now)
            body = json.dumps(event, separators=(",", ":"))
            sent_at = datetime.now(UTC)
            signature = " ".join(Webhook(secret).sign(due.delivery_id, sent_at, body)
                                 for secret in subscription.secrets)
            headers = {"content-type": "application/json", "webhook-id": due.delivery_id,
                       "webhook-timestamp": str(int(sent_at.timestamp())), "webhook-signature": signature}
            started = time.perf_counter()
            status_code, error = None, None
            if url_refused(subscription.url, self.targets):
                # A literal address is not resolved, so the resolver never sees it: checked here
                # too, for a subscription stored before the rule (or the setting) changed.
                error = "refused-address"
            else:
                try:
                    async with client.post(subscription.url, data=body.encode(), headers=headers,
                                           allow_redirects=False) as answered:
                        status_code = answered.status
                        await _read_capped(answered)
                except (TimeoutError, aiohttp.ClientError) as failure:
                    error = error_kind(failure)  # never its text: it may quote the URL or the network
            took = int((time.perf_counter() - started) * 1000)
            self._settled(Tried(due, judge(status_code), status_code, error, took))
        finally:
            self.in_flight[due.subscription_id] -= 1
            self.wake.set()  # a slot is free: other people's deliveries may go now


async def _read_capped(answered: aiohttp.ClientResponse) -> None:
    """Reads the answer's body (unused) up to ANSWER_CAP, so a short answer's connection is kept
    for the next delivery and a long one is dropped with its connection."""
    got = 0
    async for chunk in answered.content.iter_chunked(16 * 1024):
        got += len(chunk)
        if got > ANSWER_CAP:
            answered.close()
            return
