"""Referrals through the real API, broker and worker: the one door into a person's record for an
organisation that does not work with them yet."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from journey.nights import night_of
from readmodel.keys import Role, issue_key
from readmodel.tables import audit_entries
from tests.builders import contact_body
from tests.conftest import System

pytestmark = pytest.mark.integration


def _accepted(response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    return response.json()


def _box(system: System, key: str, box: str = "received") -> list[dict[str, Any]]:
    answer = system.call("GET", f"/v1/referrals?box={box}", key)
    assert answer.status_code == 200, answer.text
    return answer.json()


def refer(system: System, person: str, to: str, at: datetime, **fields: Any) -> str:
    body = {"person_id": person, "to_organisation": to, "occurred_at": at.isoformat(),
            "reason": "Day centre place and help with benefits", **fields}
    return _accepted(system.call("POST", "/v1/referrals", system.outreach_key, body))["event_id"]


def test_a_referral_accepted_shows_the_receiver_what_the_person_agreed_and_a_declined_one_nothing(
        system: System) -> None:
    at = datetime.now(UTC) - timedelta(hours=3)
    shelter = issue_key(system.engine, organisation="station-shelter", role=Role.CHARITY, now=datetime.now(UTC))
    person = _accepted(system.post("/v1/contacts", contact_body(None, at=at, personal={
        "known_as": "Jonno", "date_of_birth": "1979-04-05", "needs": ["benefits", "mental_health"]}),
        key=system.outreach_key))["person_id"]
    system.wait_journey(person, 1)

    # Outreach refers Jonno to The Brick: he agreed it may see who he is and his support needs.
    to_brick = refer(system, person, "the-brick", at + timedelta(minutes=5), categories=["core", "support_needs"],
                     consent_obtained="verbal", notes="Prefers mornings")
    inbox = system.wait_for("the Brick's inbox", lambda: _box(system, system.brick_key))
    assert [(r["referral_id"], r["from_organisation"], r["status"], r["categories"]) for r in inbox] == [
        (to_brick, "town-centre-outreach", "open", ["core", "support_needs"])]
    assert inbox[0]["reason"] == "Day centre place and help with benefits" and inbox[0]["person_id"] == person
    # Until it accepts, the referral is all The Brick sees: the person is not found.
    assert system.call("GET", f"/v1/people/{person}/journey", system.brick_key).status_code == 404
    # Nobody else sees it or may answer it; the referrer sees it among those it sent.
    assert _box(system, shelter) == []
    assert system.call("POST", f"/v1/referrals/{to_brick}/accept", shelter,
                       {"occurred_at": (at + timedelta(minutes=6)).isoformat()}).status_code == 404
    assert [r["referral_id"] for r in _box(system, system.outreach_key, "sent")] == [to_brick]

    _accepted(system.call("POST", f"/v1/referrals/{to_brick}/accept", system.brick_key,
                          {"occurred_at": (at + timedelta(minutes=10)).isoformat()}))
    seen = system.wait_for("the Brick to see Jonno", lambda: (
        answer.json() if (answer := system.call("GET", f"/v1/people/{person}/journey",
                                                system.brick_key)).status_code == 200 else None))
    contact = next(e for e in seen["timeline"] if e["type"] == "contact.recorded")
    assert contact["personal"]["known_as"] == "Jonno" and contact["personal"]["needs"] == ["benefits"]
    assert "mental_health" not in str(seen), "health was not agreed: not shown"
    made = next(e for e in seen["timeline"] if e["type"] == "referral.made")
    assert made["personal"] == {"notes": "Prefers mornings"}
    assert _box(system, system.brick_key)[0]["status"] == "accepted"
    again = system.call("POST", f"/v1/referrals/{to_brick}/accept", system.brick_key,
                        {"occurred_at": (at + timedelta(minutes=11)).isoformat()})
    assert again.status_code == 409 and "accepted" in again.json()["detail"]
    with system.engine.connect() as connection:
        rules = {r.rule for r in connection.execute(select(audit_entries.c.rule).where(
            audit_entries.c.organisation == "the-brick", audit_entries.c.person_id == person))}
    assert rules == {"referral", "consent"}

    # Referred to the shelter too, which declines: it never sees Jonno, and outreach sees why.
    to_shelter = refer(system, person, "station-shelter", at + timedelta(minutes=12), categories=["health"],
                       consent_obtained="written")
    system.wait_for("the shelter's inbox", lambda: _box(system, shelter))
    missing = system.call("POST", f"/v1/referrals/{to_shelter}/decline", shelter,
                          {"occurred_at": (at + timedelta(minutes=13)).isoformat()})
    assert missing.status_code == 422 and "decline_reason" in missing.text
    _accepted(system.call("POST", f"/v1/referrals/{to_shelter}/decline", shelter, {
        "occurred_at": (at + timedelta(minutes=13)).isoformat(), "decline_reason": "no_capacity"}))
    sent = system.wait_for("the decline", lambda: [
        r for r in _box(system, system.outreach_key, "sent") if r["status"] == "declined"])
    assert [(r["referral_id"], r["decline_reason"]) for r in sent] == [(to_shelter, "no_capacity")]
    assert system.call("GET", f"/v1/people/{person}/journey", shelter).status_code == 404

    # The figures: made, answered, and the wait for an acceptance (counts only; exact for the council).
    today = datetime.now(system.settings.zone).date()
    figures = system.call("GET", f"/v1/statistics?start={today - timedelta(days=2)}&end={today + timedelta(days=1)}",
                          system.council_key).json()["referrals"]
    assert figures == {"made": 2, "accepted": 1, "declined": 1, "withdrawn": 0, "hours_to_accept_median": 0.1}
    # Partners ask for whole weeks or months: the week of the night the referrals were made in
    # (the week of today's date held none of them when the test ran on a Monday before noon).
    night = night_of(at, system.settings.zone)
    monday = night - timedelta(days=night.weekday())
    suppressed = system.call("GET", f"/v1/statistics?start={monday}&end={monday + timedelta(days=7)}",
                             system.brick_key).json()["referrals"]
    # Small counts, and the zero beside them, all read "<5" (whichever side of a Monday midnight
    # the referrals fell, each count of this week is 0 to 2).
    assert suppressed == {"made": "<5", "accepted": "<5", "declined": "<5", "withdrawn": "<5",
                          "hours_to_accept_median": None}


def test_who_may_refer_and_to_whom(system: System) -> None:
    at = datetime.now(UTC) - timedelta(hours=3)
    person = _accepted(system.post("/v1/contacts", contact_body(None, at=at), key=system.outreach_key))["person_id"]
    system.wait_journey(person, 1)
    body = {"person_id": person, "occurred_at": at.isoformat(), "reason": "Day centre place"}
    # A partner that does not work with the person cannot refer them (it cannot see them).
    assert system.call("POST", "/v1/referrals", system.brick_key,
                       {**body, "to_organisation": "town-centre-outreach"}).status_code == 404
    # Only to another organisation that can take a person on.
    for receiver in ("no-such-organisation", "town-centre-outreach", "street-services"):
        refused = system.call("POST", "/v1/referrals", system.outreach_key, {**body, "to_organisation": receiver})
        assert refused.status_code == 422 and "to_organisation" in refused.text, receiver
    # What the person agreed to share needs how they agreed; a reporter's details never.
    unsaid = system.call("POST", "/v1/referrals", system.outreach_key,
                         {**body, "to_organisation": "the-brick", "categories": ["health"]})
    assert unsaid.status_code == 422 and "consent_obtained" in unsaid.text
    # An expired referral can no longer be accepted.
    made = refer(system, person, "the-brick", at, expires_at=(at + timedelta(hours=1)).isoformat())
    system.wait_for("the Brick's inbox", lambda: _box(system, system.brick_key))
    assert _box(system, system.brick_key)[0]["status"] == "expired"
    late = system.call("POST", f"/v1/referrals/{made}/accept", system.brick_key,
                       {"occurred_at": datetime.now(UTC).isoformat()})
    assert late.status_code == 409 and "expired" in late.json()["detail"]


def test_a_referral_nobody_answers_expires_and_its_consent_lapses(make_settings: Any) -> None:
    system = System(make_settings(referral_expiry_check_s=0.3))
    system.start_worker()
    try:
        now = datetime.now(UTC)
        person = _accepted(system.post("/v1/contacts", contact_body(None, at=now - timedelta(minutes=10)),
                                       key=system.outreach_key))["person_id"]
        system.wait_journey(person, 1)
        referral = refer(system, person, "the-brick", now - timedelta(minutes=5),
                         expires_at=(now + timedelta(seconds=3)).isoformat(), categories=["support_needs"],
                         consent_obtained="verbal")
        system.wait_for("the referral in the inbox", lambda: _box(system, system.brick_key))
        journey = system.wait_for("referral.expired on the timeline", lambda: [
            j for j in [system.wait_journey(person, 2)]
            if "referral.expired" in [e["type"] for e in j["timeline"]]], timeout=30)[0]
        expired = [e for e in journey["timeline"] if e["type"] == "referral.expired"]
        assert len(expired) == 1 and expired[0]["source"] == "journeys"
        assert [(r["referral_id"], r["status"]) for r in _box(system, system.outreach_key, "sent")] == [
            (referral, "expired")]
        late = system.call("POST", f"/v1/referrals/{referral}/accept", system.brick_key,
                           {"occurred_at": datetime.now(UTC).isoformat()})
        assert late.status_code == 409, late.text
        assert system.call("GET", f"/v1/people/{person}/journey", system.brick_key).status_code == 404
        time.sleep(1)  # more rounds of the timer: still one expiry
        again = system.wait_journey(person, 3)
        assert [e["type"] for e in again["timeline"]].count("referral.expired") == 1
        # An acceptance given before the expiry, recorded late (the phone was offline), still
        # counts although the timer expired the referral first: arrival order decides nothing.
        in_time = system.call("POST", f"/v1/referrals/{referral}/accept", system.brick_key,
                              {"occurred_at": (now - timedelta(minutes=1)).isoformat()})
        assert in_time.status_code == 202, in_time.text
        system.wait_for("the late acceptance", lambda: [
            r for r in _box(system, system.outreach_key, "sent") if r["status"] == "accepted"])
        assert system.call("GET", f"/v1/people/{person}/journey", system.brick_key).status_code == 200
    finally:
        system.close()


def test_a_walk_in_is_a_new_record_that_outreach_links_and_the_partner_keeps(system: System) -> None:
    at = datetime.now(UTC) - timedelta(hours=2)
    known = _accepted(system.post("/v1/contacts", contact_body(None, at=at, personal={"known_as": "Jonno Walker"}),
                                  key=system.outreach_key))["person_id"]
    system.wait_journey(known, 1)
    # A known person cannot be claimed by walking in: that is what a referral is for.
    claimed = system.call("POST", "/v1/cases/walk-ins", system.brick_key, {
        "person_id": known, "occurred_at": at.isoformat(), "details": {}, "personal": {"known_as": "Jonno"}})
    assert claimed.status_code == 422 and "referred" in claimed.text
    walked = _accepted(system.call("POST", "/v1/cases/walk-ins", system.brick_key, {
        "occurred_at": (at + timedelta(hours=1)).isoformat(), "details": {},
        "personal": {"known_as": "Jonno Walker", "person_description": "Came in for breakfast"}}))
    record = walked["person_id"]
    assert record != known
    system.wait_for("the walk-in's record", lambda: system.call(
        "GET", f"/v1/people/{record}/journey", system.brick_key).status_code == 200)
    assert system.call("GET", f"/v1/people/{known}/journey", system.brick_key).status_code == 404

    # Outreach finds both records by name and merges the walk-in into the one it holds.
    found = system.call("POST", "/v1/people/search", system.outreach_key, {"name": "Jonno Walker"}).json()
    assert {known, record} <= {p["person_id"] for p in found}
    merged = system.call("POST", "/v1/identity/merges", system.outreach_key, {"person_id": record, "other": known})
    assert merged.status_code == 202, merged.text
    # The Brick keeps working with the person, now under the kept record.
    system.wait_for("The Brick to see the kept record", lambda: system.call(
        "GET", f"/v1/people/{known}/journey", system.brick_key).status_code == 200)
    step = {"person_id": known, "occurred_at": (at + timedelta(hours=1, minutes=5)).isoformat(),
            "what": "strengths_recorded", "details": {}, "personal": {"goals": ["a flat"]}}
    assert system.call("POST", "/v1/cases", system.brick_key, step).status_code == 202
