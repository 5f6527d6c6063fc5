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


def _verdict(system: System, path: str, a: str, b: str) -> dict:
    """Send a decision and wait for the stream's verdict on it."""
    answer = system.call("POST", f"/v1/identity/{path}", system.outreach_key, {"person_id": a, "other": b})
    assert answer.status_code == 202, answer.text
    return _await_verdict(system, answer.json()["event_id"])


def _await_verdict(system: System, decision: str) -> dict:
    def verdict() -> dict | None:
        got = system.call("GET", f"/v1/identity/decisions/{decision}", system.outreach_key)
        return got.json() if got.status_code == 200 else None
    return system.wait_for(f"the verdict on {decision}", verdict)


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

    assert _verdict(system, "merges", steven, stephen)["status"] == "accepted"
    system.wait_for("the merge", lambda: system.journey(steven).json()["merged_into"] == stephen)
    # A later contact recorded against the merged record joins the kept one in the stream.
    later = system.post("/v1/contacts", contact_body(steven, at=at + timedelta(days=1)))
    kept = system.wait_for("the later contact on the kept record", lambda: next(
        (j for j in [system.journey(stephen).json()]
         if any(e["event_id"] == later.json()["event_id"] and e["person_id"] == stephen for e in j["timeline"])),
        None))
    assert steven in kept["merged"] and kept["contacts"] == 3  # two on the kept record, one on the merged
    again = _verdict(system, "merges", steven, stephen)
    assert (again["status"], again["reason"]) == ("refused", f"person_id was already merged into {stephen}")
    # The other way round would make a cycle: refused in the stream too.
    assert "was itself merged into" in _verdict(system, "merges", stephen, steven)["reason"]

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
    assert "split as two different people" in _verdict(system, "merges", steven, stephen)["reason"]


def test_two_concurrent_merges_of_one_record_cannot_both_win(system: System) -> None:
    at = datetime.now(UTC) - timedelta(days=1)
    record, first, second = (_person(system, name, "1990-05-05", at + timedelta(minutes=n))
                             for n, name in enumerate(["Alex", "Alec", "Alix"]))
    # Both decisions are sent before either is judged: the read model cannot tell them apart.
    answers = [system.call("POST", "/v1/identity/merges", system.outreach_key, {"person_id": record, "other": o})
               for o in (first, second)]
    assert [a.status_code for a in answers] == [202, 202]
    verdicts = [_await_verdict(system, a.json()["event_id"]) for a in answers]
    assert sorted(v["status"] for v in verdicts) == ["accepted", "refused"]
    winner = next(v["other"] for v in verdicts if v["status"] == "accepted")
    system.wait_for("the merge", lambda: system.journey(record).json()["merged_into"] == winner)
    loser = second if winner == first else first
    assert system.journey(loser).json()["merged"] == []


def test_a_decision_retried_with_its_idempotency_key_is_one_decision(system: System) -> None:
    at = datetime.now(UTC) - timedelta(days=1)
    record, other = (_person(system, name, "1988-02-02", at + timedelta(minutes=n))
                     for n, name in enumerate(["Sam", "Sami"]))
    body, key = {"person_id": record, "other": other}, {"Idempotency-Key": "merge-sam"}
    first, retry = (system.client.post("/v1/identity/merges", json=body,
                                       headers={"X-API-Key": system.outreach_key, **key}) for _ in range(2))
    assert (first.status_code, retry.status_code) == (202, 202), retry.text
    assert retry.json() == {**first.json(), "duplicate": True}
    assert _await_verdict(system, first.json()["event_id"])["status"] == "accepted"
