"""Identity through the API and the stream: candidates with reasons, merge (later events follow
it), undo, split (never proposed again)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.builders import contact_body
from tests.conftest import System

pytestmark = pytest.mark.integration


def _person(system: System, name: str, born: str, at: datetime) -> str:
    body = contact_body(None, at=at, personal={"known_as": name, "date_of_birth": born})
    answer = system.post("/v1/contacts", body)
    assert answer.status_code == 202, answer.text
    person = answer.json()["person_id"]
    system.wait_journey(person, events=1)
    return person


def _identity(system: System, path: str, a: str, b: str) -> int:
    return system.call("POST", f"/v1/identity/{path}", system.outreach_key, {"person_id": a, "other": b}).status_code


def test_match_merge_follow_undo_and_split(system: System) -> None:
    at = datetime.now(UTC) - timedelta(days=2)
    steven = _person(system, "Steven", "1980-01-02", at)
    stephen = _person(system, "Stephen", "1980-01-02", at + timedelta(hours=1))
    mags = _person(system, "Mags", "1975-06-30", at + timedelta(hours=2))

    found = system.call("GET", f"/v1/people/{steven}/candidates", system.outreach_key).json()
    assert [c["other"] for c in found] == [stephen]
    assert found[0]["score"] >= 0.6
    assert any("sound alike" in r or "alike" in r for r in found[0]["reasons"])
    assert "same date of birth" in found[0]["reasons"]
    why_not = system.call("GET", f"/v1/people/{steven}/matches/{mags}", system.outreach_key).json()
    assert why_not["proposed"] is False and "different dates of birth" in why_not["reasons"]

    assert _identity(system, "merges", steven, stephen) == 202
    system.wait_for("the merge", lambda: system.journey(steven).json()["merged_into"] == stephen)
    # A later contact recorded against the merged record joins the kept one in the stream.
    later = system.post("/v1/contacts", contact_body(steven, at=at + timedelta(days=1)))
    kept = system.wait_for("the later contact on the kept record", lambda: next(
        (j for j in [system.journey(stephen).json()]
         if any(e["event_id"] == later.json()["event_id"] and e["person_id"] == stephen for e in j["timeline"])),
        None))
    assert steven in kept["merged"] and kept["contacts"] == 3  # two on the kept record, one on the merged
    assert _identity(system, "merges", steven, stephen) == 409  # already merged

    assert _identity(system, "merges/undo", steven, stephen) == 202
    system.wait_for("the undo", lambda: system.journey(steven).json()["merged_into"] is None)
    assert system.journey(stephen).json()["merged"] == []
    again = system.post("/v1/contacts", contact_body(steven, at=at + timedelta(days=1, hours=2)))
    system.wait_for("a contact on the restored record", lambda: any(
        e["event_id"] == again.json()["event_id"] for e in system.journey(steven).json()["timeline"]))

    assert _identity(system, "splits", steven, stephen) == 202
    system.wait_for("the split", lambda: system.journey(steven).json()["timeline"][-1]["type"] == "identity.split")
    assert system.call("GET", f"/v1/people/{steven}/candidates", system.outreach_key).json() == []
    told = system.call("GET", f"/v1/people/{steven}/matches/{stephen}", system.outreach_key).json()
    assert told["reasons"] == ["split apart by a person: never proposed again"]
    assert _identity(system, "merges", steven, stephen) == 409
