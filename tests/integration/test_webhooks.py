"""Partners' webhooks through the real API, broker, worker and a real HTTP receiver (uvicorn on
127.0.0.1) running the receiver code the README gives partners: signed updates arrive in order
through the receiver's outage; forged, replayed and stale deliveries are refused; the policy
filters each payload when it is sent; 410 disables; replay and delete do what they say; and a
deliverer killed with SIGKILL loses nothing and repeats only under the same webhook-id."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from standardwebhooks import Webhook

from deploy.processes import free_port
from schemas.settings import Settings
from schemas.webhooks.payload import JourneyUpdateEvent
from schemas.webhooks.receiver import receiver
from tests.builders import contact_body, local_noon, step_body
from tests.conftest import System, fresh_postgres_database

pytestmark = pytest.mark.integration


class Receiver:
    """A partner's endpoint on 127.0.0.1 running the README's receiver; it can be down (not yet
    started), slow, or stopped. Its URL is known before it starts, so it can be subscribed first."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.port = free_port()
        self.delay_s = delay_s
        self.handled: list[dict[str, Any]] = []
        self.ids: list[str] = []  # every webhook-id that reached the endpoint, repeats too
        self.lock = threading.Lock()
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/partner/journeys"

    def _handle(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.handled.append(event)

    def start(self, secret: str) -> None:
        outer = FastAPI()

        @outer.middleware("http")
        async def count(request: Request, call_next: Callable[..., Any]) -> Response:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            with self.lock:
                self.ids.append(request.headers.get("webhook-id", ""))
            return await call_next(request)

        outer.mount("/partner", receiver(secret, self._handle))
        self.server = uvicorn.Server(uvicorn.Config(outer, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("the receiver did not start")

    def stop(self) -> None:
        if self.server:
            self.server.should_exit = True
        if self.thread:
            self.thread.join(timeout=10)


@contextmanager
def receiving(delay_s: float = 0.0) -> Iterator[Receiver]:
    endpoint = Receiver(delay_s)
    try:
        yield endpoint
    finally:
        endpoint.stop()


def _subscribe(system: System, key: str, url: str, **wanted: Any) -> dict[str, Any]:
    made = system.call("POST", "/v1/subscriptions", key, {"url": url, **wanted})
    assert made.status_code == 201, made.text
    return made.json()


def _accepted(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    return response.json()


def _deliveries(system: System, key: str, subscription_id: str) -> list[dict[str, Any]]:
    found = system.call("GET", f"/v1/subscriptions/{subscription_id}/deliveries?limit=500", key)
    assert found.status_code == 200, found.text
    return found.json()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def either_database(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]) -> Iterator[System]:
    """The deliverer's claims and settlements on SQLite, and on PostgreSQL."""
    url = {}
    if request.param == "postgresql":
        url["database_url"] = fresh_postgres_database(request.getfixturevalue("postgres_url"), "webhooks")
    yield from _running(make_settings(webhook_allow_loopback_http=True, webhook_timeout_s=2.0, webhook_poll_s=0.2,
                                      **url))


@pytest.fixture
def webhook_system(make_settings: Callable[..., Settings]) -> Iterator[System]:
    yield from _running(make_settings(webhook_allow_loopback_http=True, webhook_timeout_s=2.0, webhook_poll_s=0.2))


def _running(settings: Settings) -> Iterator[System]:
    running = System(settings)
    running.start_worker()
    try:
        yield running
    finally:
        running.close()


def test_signed_updates_arrive_in_order_through_an_outage_filtered_by_the_policy(either_database: System) -> None:
    system = either_database
    at = local_noon(2, system.settings.zone)
    refused = system.call("POST", "/v1/subscriptions", system.outreach_key, {"url": "http://example.org/hook"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == ["body", "url"], refused.text
    endpoint, brick_endpoint = Receiver(), Receiver()
    # The receiver is not listening yet: every first try fails to connect.
    outreach = _subscribe(system, system.outreach_key, endpoint.url, scope="all")
    brick = _subscribe(system, system.brick_key, brick_endpoint.url)
    assert [s["subscription_id"] for s in system.call("GET", "/v1/subscriptions", system.brick_key).json()] == [
        brick["subscription_id"]], "an organisation sees only its own subscriptions"
    assert system.call("GET", f"/v1/subscriptions/{outreach['subscription_id']}", system.brick_key).status_code == 404

    people = []
    for n in range(3):
        first = _accepted(system.post("/v1/contacts", contact_body(None, at=at + timedelta(minutes=n))))
        people.append(first["person_id"])
    for minute in range(1, 4):
        for n, person in enumerate(people):
            _accepted(system.post("/v1/contacts", contact_body(person, at=at + timedelta(minutes=10 * minute + n))))
    system.wait_for("a failed first try", lambda: any(
        a["error"] for d in _deliveries(system, system.outreach_key, outreach["subscription_id"]) for a in d["tried"]))
    endpoint.start(outreach["secret"])
    brick_endpoint.start(brick["secret"])
    try:
        system.wait_for("every update delivered after the outage", lambda: len(endpoint.handled) >= 12, timeout=60)
        time.sleep(1)
        assert len(endpoint.handled) == 12
        by_person: dict[str, list[int]] = defaultdict(list)
        for event in endpoint.handled:
            JourneyUpdateEvent.model_validate(event)  # the payload is what the published schema says
            by_person[event["subject"]].append(event["data"]["entry"]["sequence"])
        assert set(by_person) == set(people)
        for sequences in by_person.values():
            assert sequences == sorted(sequences) == [1, 2, 3, 4], by_person
        sent = _deliveries(system, system.outreach_key, outreach["subscription_id"])
        retried = [d for d in sent if d["attempts"] > 1]
        assert retried and all(d["status"] == "delivered" for d in retried)
        print(f"\nwebhooks: 12 updates delivered in order after the outage; {len(retried)} needed a second try")
        # The charity works with nobody yet: nothing of these people was sent to it.
        assert all(d["status"] == "withheld" for d in _deliveries(system, system.brick_key, brick["subscription_id"]))

        # Forged, replayed and stale deliveries, against the documented receiver code.
        body = json.dumps(endpoint.handled[0])
        now = datetime.now(UTC)
        good = Webhook(outreach["secret"]).sign("msg_replayed", now, body)
        with httpx.Client() as client:
            def send(webhook_id: str, when: datetime, signature: str) -> int:
                return client.post(endpoint.url, content=body, headers={
                    "webhook-id": webhook_id, "webhook-timestamp": str(int(when.timestamp())),
                    "webhook-signature": signature}).status_code

            forged = Webhook("whsec_" + "A" * 43 + "=").sign("msg_forged", now, body)
            assert send("msg_forged", now, forged) == 400
            stale_at = now - timedelta(minutes=6)
            assert send("msg_stale", stale_at, Webhook(outreach["secret"]).sign("msg_stale", stale_at, body)) == 400
            before = len(endpoint.handled)
            assert send("msg_replayed", now, good) == 200
            assert send("msg_replayed", now, good) == 200
            assert len(endpoint.handled) == before + 1, "a repeated webhook-id is handled once"

        # The policy at send time: the charity starts working with one person, who then consents
        # to share health needs with it, then withdraws.
        assert brick_endpoint.handled == []
        person = people[0]
        _accepted(system.post("/v1/cases", step_body(person, "key_worker_assigned", at + timedelta(hours=1), {
            "key_worker": "B1", "organisation": "the-brick"}), key=system.outreach_key))
        needs = {"needs": ["drugs", "mental_health"]}
        _accepted(system.post("/v1/contacts", contact_body(person, at=at + timedelta(hours=2), personal=needs)))
        system.wait_for("the key worker step and the contact", lambda: len(brick_endpoint.handled) >= 2)
        contact = next(e for e in brick_endpoint.handled if e["type"] == "uk.journeys.contact.recorded")
        JourneyUpdateEvent.model_validate(contact)
        assert contact["data"]["entry"] is None, "without consent a charity sees no contact's details"
        assert set(contact["data"]["person"]) <= {"person_id", "known_to_outreach", "key_worker_organisation",
                                                   "stage", "status", "last_area", "next_step"}
        _accepted(system.post("/v1/consents", step_body(person, "given", at + timedelta(hours=3), {
            "organisations": ["the-brick"], "categories": ["core", "health"], "obtained": "verbal"}),
            key=system.outreach_key))
        _accepted(system.post("/v1/contacts", contact_body(person, at=at + timedelta(hours=4), personal=needs)))
        system.wait_for("the contact after consent", lambda: sum(
            e["type"] == "uk.journeys.contact.recorded" for e in brick_endpoint.handled) >= 2)
        shared = [e for e in brick_endpoint.handled if e["type"] == "uk.journeys.contact.recorded"][-1]
        assert shared["data"]["entry"]["personal"]["needs"] == ["drugs", "mental_health"]
        withdrawn = step_body(person, "withdrawn", at + timedelta(hours=5), {})
        _accepted(system.post("/v1/consents", withdrawn, key=system.outreach_key))
        _accepted(system.post("/v1/contacts", contact_body(person, at=at + timedelta(hours=6), personal=needs)))
        system.wait_for("the contact after withdrawal", lambda: sum(
            e["type"] == "uk.journeys.contact.recorded" for e in brick_endpoint.handled) >= 3)
        after = [e for e in brick_endpoint.handled if e["type"] == "uk.journeys.contact.recorded"][-1]
        assert after["data"]["entry"] is None and "needs" not in json.dumps(after["data"])

        # Replay from a time: everything since is sent again under new webhook-ids.
        since = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
        replayed = system.call("POST", f"/v1/subscriptions/{outreach['subscription_id']}/replay", system.outreach_key,
                               {"since": since})
        assert replayed.status_code == 202, replayed.text
        count = replayed.json()["deliveries"]
        handled = len(endpoint.handled)
        system.wait_for("the replay", lambda: len(endpoint.handled) >= handled + count, timeout=60)

        # Deleted: a new update is not sent.
        assert system.call("DELETE", f"/v1/subscriptions/{outreach['subscription_id']}",
                           system.outreach_key).status_code == 204
        handled = len(endpoint.handled)
        _accepted(system.post("/v1/contacts", contact_body(people[1], at=at + timedelta(hours=7))))
        system.wait_journey(people[1], 5)
        time.sleep(1.5)
        assert len(endpoint.handled) == handled, "nothing is sent to a deleted subscription"
    finally:
        endpoint.stop()
        brick_endpoint.stop()


def test_410_disables_a_subscription(webhook_system: System) -> None:
    system = webhook_system
    gone = FastAPI()
    gone.post("/hook")(lambda: Response(status_code=410))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(gone, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        made = _subscribe(system, system.outreach_key, f"http://127.0.0.1:{port}/hook", scope="all")
        _accepted(system.post("/v1/contacts", contact_body(None, at=local_noon(1, system.settings.zone))))
        path = f"/v1/subscriptions/{made['subscription_id']}"
        found = system.wait_for("the subscription disabled", lambda: (
            r := system.call("GET", path, system.outreach_key).json())["status"] == "disabled" and r)
        assert "410" in found["status_reason"]
        assert [a["answer"] for d in _deliveries(system, system.outreach_key, made["subscription_id"])
                for a in d["tried"]] == ["gone"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_deliverer_killed_mid_flight_loses_nothing_and_repeats_only_under_the_same_id(
        webhook_system: System) -> None:
    system = webhook_system
    at = local_noon(2, system.settings.zone)
    with receiving(delay_s=0.3) as endpoint:
        made = _subscribe(system, system.outreach_key, endpoint.url, scope="all")
        endpoint.start(made["secret"])
        people = [_accepted(system.post("/v1/contacts", contact_body(None, at=at + timedelta(minutes=n))))["person_id"]
                  for n in range(8)]
        for step in range(1, 5):
            for n, person in enumerate(people):
                _accepted(system.post("/v1/contacts", contact_body(person, at=at + timedelta(minutes=10 * step + n))))
        expected = 40
        kills = 0
        for _ in range(2):
            reached = len(endpoint.ids) + 3
            system.wait_for("deliveries in flight", lambda reached=reached: len(endpoint.ids) > reached)
            assert system.worker and system.worker.process
            system.worker.process.send_signal(signal.SIGKILL)
            system.worker.process.wait()
            kills += 1
            system.start_worker()
        system.wait_for("every update delivered", lambda: len(endpoint.handled) >= expected, timeout=120)
        time.sleep(1)
        ids = Counter(endpoint.ids)
        repeats = sum(n - 1 for n in ids.values())
        by_person: dict[str, list[int]] = defaultdict(list)
        for event in endpoint.handled:
            by_person[event["subject"]].append(event["data"]["entry"]["sequence"])
        print(f"\nwebhooks SIGKILL: {kills} kills, {len(endpoint.handled)} handled of {expected}, "
              f"{len(ids)} webhook-ids, {repeats} repeats (same id)")
        assert len(endpoint.handled) == expected == len(ids), "lost or doubled under a new id"
        assert all(seq == sorted(seq) for seq in by_person.values()), by_person
