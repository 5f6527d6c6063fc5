"""Page sessions on shared and lost devices, through the real API and database: a session ends
after its idle time and its lifetime (shorter on a shared computer); a member signs out of every
browser at once; an admin's "this phone was lost" ends the member's sessions at the next request;
failed sign-ins from one address make even the right passkey wait; each is in the account
audit, never a key or a token. Members sign in with passkeys (tests/authenticator.py plays the
phone)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api import sessions
from api.sessions import SessionRules
from readmodel.keys import Role, issue_key
from readmodel.passkeys import member_principal
from schemas.settings import Settings
from tests.authenticator import SoftAuthenticator
from tests.conftest import System
from tests.passkeys import enrolled, member_of_key, page_csrf, sign_in

pytestmark = pytest.mark.integration

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def site(make_settings: Callable[..., Settings]) -> Iterator[System]:
    running = System(make_settings(sign_in_failures_allowed=5))  # no worker: nothing here needs one
    try:
        yield running
    finally:
        running.close()


def _csrf(client: TestClient) -> str:
    return page_csrf(client, "/people")


def _signed_in(client: TestClient) -> bool:
    return client.get("/people", follow_redirects=False).status_code == 200


def test_a_session_ends_after_its_idle_time_and_its_lifetime_sooner_on_a_shared_computer(site: System) -> None:
    principal = member_principal(site.engine, member_of_key(site, site.outreach_key))
    assert principal is not None
    rules = SessionRules()
    token, lifetime = sessions.begin(site.engine, principal, NOON, rules, method="passkey")
    assert lifetime == timedelta(hours=8)
    assert sessions.current(site.engine, token, NOON + timedelta(minutes=29)) is not None
    assert sessions.current(site.engine, token, NOON + timedelta(minutes=58)) is not None, "in use: still on"
    assert sessions.current(site.engine, token, NOON + timedelta(minutes=89)) is None, "31 minutes idle"
    token, _ = sessions.begin(site.engine, principal, NOON, rules, method="passkey")
    for minutes in range(20, 8 * 60, 20):  # in use all shift
        assert sessions.current(site.engine, token, NOON + timedelta(minutes=minutes)) is not None, minutes
    assert sessions.current(site.engine, token, NOON + timedelta(hours=8, minutes=1)) is None, "a shift at most"
    shared, lifetime = sessions.begin(site.engine, principal, NOON, rules, method="passkey", shared=True)
    assert lifetime == timedelta(hours=1)
    assert sessions.current(site.engine, shared, NOON + timedelta(minutes=9)) is not None
    assert sessions.current(site.engine, shared, NOON + timedelta(minutes=20)) is None, "11 minutes idle"


def test_the_shared_computer_box_shortens_the_cookie_and_sign_out_everywhere_ends_every_browser(site: System) -> None:
    phone, desk = site.client, TestClient(site.client.app)
    passkey = enrolled(site, site.outreach_key)
    own = sign_in(phone, passkey)
    shared = sign_in(desk, passkey, shared=True)  # the phone's passkey, used for the day centre's computer
    assert own.status_code == shared.status_code == 200, (own.text, shared.text)
    assert own.json() == {"go": "/people"}
    assert "max-age=28800" in own.headers["set-cookie"].lower()
    assert "max-age=3600" in shared.headers["set-cookie"].lower()
    assert _signed_in(phone) and _signed_in(desk)
    out = desk.post("/sign-out-everywhere", data={"csrf": _csrf(desk)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    assert not _signed_in(phone) and not _signed_in(desk)
    assert sign_in(phone, passkey).status_code == sign_in(desk, passkey).status_code == 200
    phone.post("/sign-out-everywhere", data={"csrf": "not-the-token"}, follow_redirects=False)
    assert _signed_in(desk), "without the form's token no other browser is signed out"


def test_a_lost_phone_is_signed_out_by_the_organisations_lead_at_once(site: System) -> None:
    now = datetime.now(UTC)
    lead = issue_key(site.engine, organisation="town-centre-outreach", role=Role.OUTREACH, now=now,
                     data_protection_lead=True)
    other_lead = issue_key(site.engine, organisation="the-brick", role=Role.CHARITY, now=now,
                           data_protection_lead=True)
    worker = member_of_key(site, site.outreach_key)
    enrolled(site, site.outreach_key, site.client)  # the invitation's passkey signs this phone in
    assert _signed_in(site.client)
    path = f"/v1/members/{worker}/sessions/end"
    assert site.call("POST", path, other_lead).status_code == 404
    assert site.call("POST", path, site.brick_key).status_code == 404
    assert _signed_in(site.client)
    ended = site.call("POST", path, lead)
    assert ended.status_code == 200 and ended.json() == {"ended": 1}, ended.text
    assert not _signed_in(site.client)
    audit = site.call("GET", "/v1/audit/accounts", lead).json()
    actions = [a["action"] for a in reversed(audit) if a["member_id"] == worker]
    assert actions[-2:] == ["session.signed_in", "session.ended"], actions
    assert site.outreach_key.split("_")[-1] not in str(audit)


def test_failed_sign_ins_make_even_the_right_passkey_wait_and_are_audited(site: System) -> None:
    now = datetime.now(UTC)
    lead = issue_key(site.engine, organisation="town-centre-outreach", role=Role.OUTREACH, now=now,
                     data_protection_lead=True)
    passkey = enrolled(site, site.outreach_key)
    stranger = SoftAuthenticator(site.settings.origin)
    stranger.create({"rp": {"id": "localhost"}, "user": {"id": "eA"}, "challenge": "eA"})  # a passkey nobody kept
    elsewhere = {"origin": "https://journeys.example.net"}  # a look-alike site relaying the challenge
    for n in range(5):
        failed = sign_in(site.client, passkey, **elsewhere) if n % 2 else sign_in(site.client, stranger)
        assert failed.status_code == 422, failed.text
    refused = sign_in(site.client, passkey)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "try again in" in refused.text and not _signed_in(site.client)
    audit = site.call("GET", "/v1/audit/accounts", lead).json()
    failures = [a for a in audit if a["action"] == "session.sign_in_failed"]
    assert len(failures) == 2, "the two with this organisation's passkey; a passkey nobody kept names nobody"
    assert [a["action"] for a in audit].count("session.signed_in") == 1, "only the invitation's sign-in"
