"""A partner who tries: each way round the sharing policy, tried through the real API, broker and
worker by an organisation that means it. Each test checks that the attempt fails and that nothing
it touched changed: the victim's timeline, the read model, the audit.

Every test here failed on the code before the doors were closed (the closing note of issue 24
lists each attack with its answer before and after)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from api.keys import Role, issue_key
from schemas.read_model import audit_entries, timeline_entries
from tests.builders import contact_body
from tests.conftest import System

pytestmark = pytest.mark.integration


def _key(system: System, organisation: str, role: Role) -> str:
    return issue_key(system.engine, organisation=organisation, role=role, now=datetime.now(UTC))


def _accepted(response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    return response.json()


def _entries(system: System, person_id: str) -> list[dict[str, Any]]:
    with system.engine.connect() as connection:
        rows = connection.execute(select(timeline_entries).where(timeline_entries.c.person_id == person_id)
                                  .order_by(timeline_entries.c.event_id)).all()
    return [dict(r._mapping) for r in rows]


def _audit(system: System) -> list[tuple[str, str, str]]:
    with system.engine.connect() as connection:
        return [tuple(r) for r in connection.execute(
            select(audit_entries.c.organisation, audit_entries.c.person_id, audit_entries.c.rule)).all()]


def _victim(system: System, at: datetime) -> tuple[str, str]:
    """A person outreach knows, with a name, a date of birth and health needs; their contact's id."""
    sent = _accepted(system.post("/v1/contacts", contact_body(None, at=at, personal={
        "known_as": "Victim Name", "date_of_birth": "1979-04-05", "needs": ["mental_health", "drugs"]}),
        key=system.outreach_key))
    system.wait_journey(sent["person_id"], 1)
    return sent["person_id"], sent["event_id"]


def test_another_organisations_event_id_names_nothing_of_theirs(system: System) -> None:
    """Hijacked event ids: a second organisation sends an event under the id the first chose.
    Before, the stored id was the client's id: the read model relabelled the victim's timeline
    row as the attacker's and showed it "whole" as the attacker's own, name and needs included."""
    at = datetime.now(UTC) - timedelta(hours=3)
    chosen = str(uuid.uuid4())
    victim = _accepted(system.post("/v1/contacts", contact_body(None, at=at, event_id=chosen, personal={
        "known_as": "Victim Name", "needs": ["mental_health"]}), key=system.outreach_key))
    system.wait_journey(victim["person_id"], 1)
    before = _entries(system, victim["person_id"])

    rival = _key(system, "rival-outreach", Role.OUTREACH)
    theirs = {"known_as": "Someone Else", "needs": []}
    mine = _accepted(system.post("/v1/contacts", contact_body(None, at=at, personal=theirs), key=rival))["person_id"]
    system.wait_journey(mine, 1)
    # The same id, about the rival's own person.
    again = _accepted(system.post("/v1/contacts", contact_body(mine, at=at + timedelta(minutes=5), event_id=chosen,
                                                               personal=theirs), key=rival))
    assert again["event_id"] != victim["event_id"]
    system.wait_journey(mine, 2)
    assert _entries(system, victim["person_id"]) == before
    seen = system.call("GET", f"/v1/people/{mine}/journey", rival).json()
    assert "Victim Name" not in str(seen) and "mental_health" not in str(seen)
    assert [e["personal"].get("known_as") for e in seen["timeline"]] == ["Someone Else", "Someone Else"]
