"""Page sessions on shared and lost devices, through the real API and database: a session ends
after its idle time and its lifetime (shorter on a shared computer); a member signs out of every
browser at once; an admin's "this phone was lost" ends the member's sessions at the next request;
failed sign-ins from one address make even the right key wait; each is in the account audit,
never a key or a token."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from api import sessions
from api.sessions import SessionRules
from readmodel.keys import Role, authenticate, issue_key
from schemas.settings import Settings
from tests.conftest import System

pytestmark = pytest.mark.integration

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def site(make_settings: Callable[..., Settings]) -> Iterator[System]:
    running = System(make_settings(sign_in_failures_allowed=5))  # no worker: nothing here needs one
    try:
        yield running
    finally:
        running.close()


def _sign_in(client: TestClient, key: str, **extra: str) -> httpx.Response:
    form = client.get("/sign-in").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    return client.post("/sign-in", data={"key": key, "csrf": csrf.group(1), "next": "/people", **extra},
                       follow_redirects=False)


def _csrf(client: TestClient) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/people").text)
    assert found is not None
    return found.group(1)


def _signed_in(client: TestClient) -> bool:
    return client.get("/people", follow_redirects=False).status_code == 200


def test_a_session_ends_after_its_idle_time_and_its_lifetime_sooner_on_a_shared_computer(site: System) -> None:
    principal = authenticate(site.engine, site.outreach_key, NOON)
    assert principal is not None
    rules = SessionRules()
    token, lifetime = sessions.begin(site.engine, principal, NOON, rules)
    assert lifetime == timedelta(hours=8)
    assert sessions.current(site.engine, token, NOON + timedelta(minutes=29)) is not None
    assert sessions.current(site.engine, token, NOON + timedelta(minutes=58)) is not None, "in use: still on"
    assert sessions.current(site.engine, token, NOON + timedelta(minutes=89)) is None, "31 minutes idle"
    token, _ = sessions.begin(site.engine, principal, NOON, rules)
    for minutes in range(20, 8 * 60, 20):  # in use all shift
        assert sessions.current(site.engine, token, NOON + timedelta(minutes=minutes)) is not None, minutes
    assert sessions.current(site.engine, token, NOON + timedelta(hours=8, minutes=1)) is None, "a shift at most"
    shared, lifetime = sessions.begin(site.engine, principal, NOON, rules, shared=True)
    assert lifetime == timedelta(hours=1)
    assert sessions.current(site.engine, shared, NOON + timedelta(minutes=9)) is not None
    assert sessions.current(site.engine, shared, NOON + timedelta(minutes=20)) is None, "11 minutes idle"


def test_the_shared_computer_box_shortens_the_cookie_and_sign_out_everywhere_ends_every_browser(site: System) -> None:
    phone, desk = site.client, TestClient(site.client.app)
    own = _sign_in(phone, site.outreach_key)
    shared = _sign_in(desk, site.outreach_key, shared="yes")
    assert own.status_code == shared.status_code == 303
    assert "max-age=28800" in own.headers["set-cookie"].lower()
    assert "max-age=3600" in shared.headers["set-cookie"].lower()
    assert _signed_in(phone) and _signed_in(desk)
    out = desk.post("/sign-out-everywhere", data={"csrf": _csrf(desk)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    assert not _signed_in(phone) and not _signed_in(desk)
    assert _sign_in(phone, site.outreach_key).status_code == _sign_in(desk, site.outreach_key).status_code == 303
    phone.post("/sign-out-everywhere", data={"csrf": "not-the-token"}, follow_redirects=False)
    assert _signed_in(desk), "without the form's token no other browser is signed out"


def test_a_lost_phone_is_signed_out_by_the_organisations_lead_at_once(site: System) -> None:
    now = datetime.now(UTC)
    lead = issue_key(site.engine, organisation="town-centre-outreach", role=Role.OUTREACH, now=now,
                     data_protection_lead=True)
    other_lead = issue_key(site.engine, organisation="the-brick", role=Role.CHARITY, now=now,
                           data_protection_lead=True)
    worker = authenticate(site.engine, site.outreach_key, now)
    assert worker is not None
    assert _sign_in(site.client, site.outreach_key).status_code == 303 and _signed_in(site.client)
    path = f"/v1/members/{worker.member_id}/sessions/end"
    assert site.call("POST", path, other_lead).status_code == 404
    assert site.call("POST", path, site.brick_key).status_code == 404
    assert _signed_in(site.client)
    ended = site.call("POST", path, lead)
    assert ended.status_code == 200 and ended.json() == {"ended": 1}, ended.text
    assert not _signed_in(site.client)
    audit = site.call("GET", "/v1/audit/accounts", lead).json()
    actions = [a["action"] for a in reversed(audit) if a["member_id"] == worker.member_id]
    assert actions[-2:] == ["session.signed_in", "session.ended"], actions
    assert site.outreach_key.split("_")[-1] not in str(audit)


def test_failed_sign_ins_make_even_the_right_key_wait_and_are_audited(site: System) -> None:
    now = datetime.now(UTC)
    lead = issue_key(site.engine, organisation="town-centre-outreach", role=Role.OUTREACH, now=now,
                     data_protection_lead=True)
    wrong_secret = site.outreach_key[:-4] + "AAAA"
    for n in range(5):
        failed = _sign_in(site.client, wrong_secret if n % 2 else "jk_nobody_guess")
        assert failed.status_code == 422, failed.text
    refused = _sign_in(site.client, site.outreach_key)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "try again in" in refused.text and not _signed_in(site.client)
    audit = site.call("GET", "/v1/audit/accounts", lead).json()
    failures = [a for a in audit if a["action"] == "session.sign_in_failed"]
    assert len(failures) == 2, "the two that named this organisation's key; a key id nobody has names nobody"
    assert "AAAA" not in str(audit) and "guess" not in str(audit)
