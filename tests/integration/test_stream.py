"""The live stream through a real API process, broker and worker: updates arrive as Server-Sent
Events filtered by the policy, a reconnect with Last-Event-ID gets exactly what was missed, and
an idle stream sends heartbeats."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from deploy.processes import start_api
from schemas.settings import Settings
from tests.builders import contact_body, local_noon
from tests.conftest import System

pytestmark = pytest.mark.integration


class Listener:
    """Reads one stream in a thread: its events (with ids) and heartbeat comments."""

    def __init__(self, url: str, key: str, last_event_id: str | None = None) -> None:
        headers = {"X-API-Key": key, **({"Last-Event-ID": last_event_id} if last_event_id else {})}
        self.events: list[dict[str, Any]] = []
        self.heartbeats = 0
        self.status: int | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self.thread.start()

    def _read(self, url: str, headers: dict[str, str]) -> None:
        with httpx.Client(timeout=httpx.Timeout(5, read=30)) as client, client.stream("GET", url, headers=headers) as r:
            self.status = r.status_code
            event: dict[str, Any] = {}
            for line in r.iter_lines():
                if self.stopping.is_set():
                    return
                if line.startswith(":"):
                    self.heartbeats += 1
                elif not line:
                    if event:
                        self.events.append(event)
                    event = {}
                else:
                    name, _, value = line.partition(":")
                    event[name] = value.strip()

    def updates(self) -> list[dict[str, Any]]:
        return [{**json.loads(e["data"]), "cursor": e.get("id")}
                for e in self.events if e.get("event") == "journey.update"]

    def stop(self) -> None:
        self.stopping.set()


def test_the_stream_sends_what_the_policy_allows_and_resumes_from_the_last_event(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(stream_heartbeat_s=0.5)
    system = System(settings)
    system.start_worker()
    api = start_api(settings, settings.state_dir / "api.log")
    url = f"http://127.0.0.1:{settings.api_port}/v1/stream"
    at = local_noon(1, settings.zone)
    try:
        outreach = Listener(f"{url}?scope=all", system.outreach_key)
        brick = Listener(url, system.brick_key)
        police = Listener(f"{url}?scope=all", system.brick_key.replace("jk_", "jk_x"))  # a key nobody has
        system.wait_for("both streams open", lambda: outreach.status == 200 and brick.status == 200)
        assert system.wait_for("the unknown key refused", lambda: police.status) == 401
        person = system.post("/v1/contacts", contact_body(None, at=at)).json()["person_id"]
        for n in range(1, 3):
            assert system.post("/v1/contacts", contact_body(person, at=at + timedelta(minutes=n))).status_code == 202
        system.wait_for("three updates", lambda: len(outreach.updates()) >= 3)
        first = outreach.updates()
        assert [u["data"]["entry"]["sequence"] for u in first] == [1, 2, 3]
        assert all(u["subject"] == person and u["data"]["entry"]["personal"] for u in first)
        system.wait_for("heartbeats", lambda: outreach.heartbeats >= 2 and brick.heartbeats >= 2)
        assert brick.updates() == [], "the charity works with nobody: it is sent nothing"
        outreach.stop()

        for n in range(3, 5):
            assert system.post("/v1/contacts", contact_body(person, at=at + timedelta(minutes=n))).status_code == 202
        system.wait_journey(person, 5)
        resumed = Listener(f"{url}?scope=all", system.outreach_key, last_event_id=first[-1]["cursor"])
        system.wait_for("the missed updates", lambda: len(resumed.updates()) >= 2)
        time.sleep(1)
        assert [u["data"]["entry"]["sequence"] for u in resumed.updates()] == [4, 5]
        resumed.stop()
        brick.stop()
    finally:
        api.stop()
        system.close()
