"""The deliverer: a task of the worker that sends due deliveries, oldest first, one person at a time
per subscription, each payload built through the sharing policy at the moment of sending, signed
as a Standard Webhook, to an address the targets rule allows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from sqlalchemy import Engine
from standardwebhooks import Webhook

from journey.delivery import Answer, Scope, judge, update_event
from readmodel.sharing import Push, disclosed_updates
from schemas.settings import Settings
from schemas.webhooks.targets import Targets, address_refused, url_refused
from streams.delivery.lease import Due, Tried, claim, settle
from streams.delivery.outbox import Subscription, load_subscriptions

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
