"""Accounts: who issues keys, removing a member, the account audit, and break-glass capped and
told to the data protection lead at once. Through the real API and worker (and a real SMTP
server on 127.0.0.1).

Before (issue 24): any member minted their own 366-day keys, nobody could remove a member,
account changes were not audited, and break-glass had no cap and told nobody."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from deploy.processes import free_port
from readmodel.keys import Role, authenticate, issue_key, key_id_of
from schemas.settings import Settings
from tests.builders import contact_body
from tests.conftest import System
from tests.integration.test_reporters import Inbox
from tests.passkeys import enrolled

pytestmark = pytest.mark.integration


def _member(system: System, key: str, organisation: str = "the-brick", **extra: Any) -> Any:
    return system.call("POST", "/v1/members", key, {"organisation": organisation, "organisation_type": "charity",
                                                    "name": "New Starter", **extra})


def test_keys_come_from_an_admin_or_the_data_protection_lead_and_a_removed_member_is_shut_out(
        system: System) -> None:
    now = datetime.now(UTC)
    week = now + timedelta(days=7)
    member = issue_key(system.engine, organisation="the-brick", role=Role.CHARITY, now=now, expires_at=week)
    lead = issue_key(system.engine, organisation="the-brick", role=Role.CHARITY, now=now, data_protection_lead=True)
    other_lead = issue_key(system.engine, organisation="station-shelter-trust", role=Role.CHARITY, now=now,
                           data_protection_lead=True)
    me = authenticate(system.engine, member, now)
    assert me is not None

    # A member adds nobody; a lead adds members of their own organisation only.
    assert _member(system, member).status_code == 403
    assert _member(system, other_lead).status_code == 403
    added = _member(system, lead)
    assert added.status_code == 201, added.text
    colleague = added.json()["member_id"]
    # A member issues no key for a colleague, and their own new key never outlives the one asking.
    assert system.call("POST", f"/v1/members/{colleague}/keys", member, {"expires_in_days": 366}).status_code == 404
    own = system.call("POST", f"/v1/members/{me.member_id}/keys", member, {"expires_in_days": 366})
    assert own.status_code == 201 and datetime.fromisoformat(own.json()["expires_at"]) <= week, own.text
    assert system.call("POST", f"/v1/members/{colleague}/keys", other_lead, {}).status_code == 404
    issued = system.call("POST", f"/v1/members/{colleague}/keys", lead, {"expires_in_days": 30})
    assert issued.status_code == 201, issued.text
    colleague_key = issued.json()["key"]

    # The colleague signs in to the pages and subscribes; then leaves, and is removed.
    enrolled(system, colleague_key, system.client)  # from the invitation their lead sent
    assert system.client.get("/people").status_code == 200
    made = system.call("POST", "/v1/subscriptions", colleague_key, {"url": "https://hooks.the-brick.example/j"})
    assert made.status_code == 201, made.text
    assert system.call("DELETE", f"/v1/members/{colleague}", member).status_code == 404  # not a member's to do
    assert system.call("DELETE", f"/v1/members/{colleague}", other_lead).status_code == 404
    removed = system.call("DELETE", f"/v1/members/{colleague}", lead)
    assert removed.status_code == 200 and removed.json() == {"keys": 1, "sessions": 1, "subscriptions": 1}
    assert system.call("GET", "/v1/keys", colleague_key).status_code == 401
    page = system.client.get("/people", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/sign-in")
    listed = system.call("GET", "/v1/subscriptions", lead).json()
    assert [s["status"] for s in listed if s["subscription_id"] == made.json()["subscription_id"]] == ["disabled"]
    assert system.call("DELETE", f"/v1/members/{colleague}", lead).status_code == 404  # gone already

    # Every change is in the account audit, for the lead (and only their organisation's).
    assert system.call("GET", "/v1/audit/accounts", member).status_code == 403
    audit = system.call("GET", "/v1/audit/accounts", lead).json()
    done = [(a["action"], a["member_id"]) for a in reversed(audit) if a["member_id"] == colleague]
    assert done == [("member.added", colleague), ("key.issued", colleague), ("invitation.sent", colleague),
                    ("passkey.registered", colleague), ("session.signed_in", colleague), ("member.removed", colleague)]
    assert {a["organisation"] for a in audit} == {"the-brick"}
    assert ("key.issued", me.member_id, me.member_id) in [(a["action"], a["member_id"], a["actor"]) for a in audit]
    assert not [a for a in system.call("GET", "/v1/audit/accounts", other_lead).json()
                if a["organisation"] == "the-brick"]
    assert key_id_of(colleague_key) in [a["key_id"] for a in audit]


def test_break_glass_is_capped_a_day_and_the_lead_told_at_once(make_settings: Callable[..., Settings]) -> None:
    inbox, port = Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    system = System(make_settings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, break_glass_daily_cap=2))
    system.start_worker()
    try:
        now = datetime.now(UTC)
        issue_key(system.engine, organisation="the-brick", role=Role.CHARITY, now=now, data_protection_lead=True,
                  email="dpo@the-brick.example")
        breaker = issue_key(system.engine, organisation="the-brick", role=Role.CHARITY, now=now,
                            member_name="Sam Breaker")
        person = system.post("/v1/contacts", contact_body(None, personal={"known_as": "Kept Private"})).json()
        system.wait_journey(person["person_id"], 1)
        reason = {"reason": "Safeguarding: reported missing tonight", "minutes": 5}
        answers = [system.call("POST", f"/v1/people/{person['person_id']}/break-glass", breaker, reason).status_code
                   for _ in range(3)]
        assert answers == [201, 201, 429]
        system.wait_for("three emails to the lead", lambda: len(inbox.messages) >= 3)
        assert {m["To"] for m in inbox.messages} == {"dpo@the-brick.example"}
        said = [m.get_payload(decode=True).decode() for m in inbox.messages]
        assert sum("to read a person's record" in s for s in said) == 2 and sum("was refused" in s for s in said) == 1
        for text in said:
            assert "Sam Breaker" in text
            for personal in (person["person_id"], "Kept Private", "Safeguarding"):
                assert personal not in text, f"the email says {personal!r}"
    finally:
        system.close()
        smtp.stop()
