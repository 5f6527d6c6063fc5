"""Governed sharing through the real API, broker and worker: the access matrix generated from the
policy table, object-level refusals, consent withdrawn, break-glass, keys, and the audit."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from journey.policy import BEFORE_CONSENT, CONSENT_CAN_ADD, MAY_READ_PEOPLE, family_models
from readmodel.keys import Role, issue_key, key_id_of
from readmodel.people import get_journey
from readmodel.tables import audit_entries
from schemas.events import NEED_CATEGORY, Need
from schemas.settings import Settings
from schemas.sharing import Category, OrganisationType, category_of
from schemas.topics import AUDIT, INTAKE
from schemas.views import JourneyView
from tests.builders import contact_body, local_noon, report_body, step_body
from tests.conftest import System, fresh_postgres_database

pytestmark = pytest.mark.integration

T = OrganisationType
VIEWERS = list(OrganisationType)
ORG = {kind: f"org-{kind.value.replace('_', '-')}" for kind in VIEWERS}
# How each kind of organisation that can work with a person comes to: outreach and the council
# by a step of their own; the others only by an act the policy trusts (here: outreach makes them
# the key worker's organisation; a referral accepted is the other door, tests/integration/test_referrals.py).
RELATING = {T.COUNCIL: "duty", T.OUTREACH: "contact", T.CHARITY: "key_worker", T.HOUSING_PROVIDER: "key_worker",
            T.HEALTH: "key_worker"}
STATES = ("apart", "related", "consented", "withdrawn")


def _keys(system: System) -> dict[OrganisationType, str]:
    now = datetime.now(UTC)
    return {kind: issue_key(system.engine, organisation=ORG[kind], role=kind, now=now) for kind in VIEWERS}


def _accepted(response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    return response.json()


def _story(system: System, keys: dict[OrganisationType, str], other: str, state: str, at: datetime) -> tuple[str, int]:
    """A person reported by the public (with the reporter's phone), contacted by another outreach
    team (needs of every category, place, date of birth), with strengths recorded; then, by
    state, a step by each viewing organisation, consent to all of them, and its withdrawal."""
    reported = report_body(at=at, details={"channel": "public", "wants_update": True},
                           personal={"reporter": {"phone": "01234 567890"}})
    public = _accepted(system.post("/v1/reports", reported, key=keys[T.PUBLIC]))
    person = public["person_id"]
    events = 2  # the report and its routing
    _accepted(system.post("/v1/contacts", contact_body(person, at=at + timedelta(minutes=10), personal={
        "needs": [n.value for n in Need], "date_of_birth": "1980-02-03", "notes": "Says his hip hurts",
        "place": {"description": "Bank doorway"}}), key=other))
    _accepted(system.post("/v1/cases", step_body(person, "strengths_recorded", at + timedelta(minutes=20), {},
                                                 {"strengths": ["cooking"], "goals": ["a flat"]}), key=other))
    events += 2
    if state != "apart":
        for minute, (kind, family) in enumerate(RELATING.items(), start=30):
            when = at + timedelta(minutes=minute)
            path, body = {
                "duty": ("/v1/duties", step_body(person, "relief_started", when, {"local_authority": "Wigan"})),
                "contact": ("/v1/contacts", contact_body(person, at=when, details={"team": ORG[kind]})),
                "key_worker": ("/v1/cases", step_body(person, "key_worker_assigned", when,
                                                      {"key_worker": "KW1", "organisation": ORG[kind]})),
            }[family]
            _accepted(system.post(path, body, key=other if family == "key_worker" else keys[kind]))
            events += 1
    if state in ("consented", "withdrawn"):
        # Consent is recorded only by an organisation the worker already knows works with the
        # person: wait for the other team's contact to be folded.
        system.wait_journey(person, events)
        given = _accepted(system.post("/v1/consents", step_body(person, "given", at + timedelta(hours=1), {
            "organisations": [ORG[kind] for kind in VIEWERS], "categories": [c.value for c in Category],
            "obtained": "written"}),
            key=other))
        events += 1
        if state == "withdrawn":
            _accepted(system.post("/v1/consents", step_body(person, "withdrawn", at + timedelta(hours=2),
                                                            {"consent": given["event_id"]}), key=other))
            events += 1
    return person, events


def _expected(kind: OrganisationType, state: str) -> set[Category]:
    related = state != "apart" and kind in RELATING
    seen = set(BEFORE_CONSENT[kind][related])
    if related and state == "consented":
        seen |= set(Category) & CONSENT_CAN_ADD[kind]
    return seen


def _check_entry(full: dict[str, Any], shown: dict[str, Any], allowed: set[Category], where: str) -> list[str]:
    problems = []
    data_model, personal_model = family_models(full["type"])
    for part, model in (("data", data_model), ("personal", personal_model)):
        for name, value in full[part].items():
            category = category_of(model, name)
            present = name in shown[part]
            if name == "needs":
                kinds = set(NEED_CATEGORY.values()) & allowed
                wanted = [n for n in value if NEED_CATEGORY[Need(n)] in allowed] if kinds else None
                if (shown[part].get(name) if present else None) != wanted:
                    problems.append(f"{where} {part}.needs: {shown[part].get(name)} != {wanted}")
            elif present != (category in allowed):
                problems.append(f"{where} {part}.{name} ({category}): {'shown' if present else 'hidden'}")
    return problems


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def either_database(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]) -> Iterator[System]:
    """A system on SQLite, and one on a database of its own in the PostgreSQL server."""
    overrides = {}
    if request.param == "postgresql":
        overrides["database_url"] = fresh_postgres_database(request.getfixturevalue("postgres_url"), "sharing")
    running = System(make_settings(**overrides))
    running.start_worker()
    try:
        yield running
    finally:
        running.close()


@pytest.mark.clock
def test_the_access_matrix_from_the_policy_table(either_database: System) -> None:
    system = either_database
    keys = _keys(system)
    other = issue_key(system.engine, organisation="other-outreach", role=Role.OUTREACH, now=datetime.now(UTC))
    at = local_noon(2, system.settings.zone)
    people = {state: _story(system, keys, other, state, at) for state in STATES}
    for person, events in people.values():
        system.wait_journey(person, events=events)

    audited_before = _audited(system)  # waiting for the journeys read them too
    problems: list[str] = []
    cells = denied = reads = 0
    denied_by_kind: dict[OrganisationType, int] = {}
    for state, (person, _events) in people.items():
        found = get_journey(engine=system.engine, person_id=person, now=datetime.now(UTC),
                            zone=system.settings.zone, inactive_after_days=system.settings.case_inactive_after_days)
        assert found is not None
        full = found[0].model_dump(mode="json")
        for kind in VIEWERS:
            allowed = _expected(kind, state)
            response = system.call("GET", f"/v1/people/{person}/journey", keys[kind])
            where = f"{kind.value} reading {state}:"
            own = [e for e in full["timeline"] if e["source"] == ORG[kind]]
            if kind not in MAY_READ_PEOPLE:
                if response.status_code != 403:
                    problems.append(f"{where} status {response.status_code}, wanted 403")
                continue
            if not allowed and not own:
                if response.status_code != 404:
                    problems.append(f"{where} status {response.status_code}, wanted 404")
                denied_by_kind[kind] = denied_by_kind.get(kind, 0) + _cells(full)
                continue
            if response.status_code != 200:
                problems.append(f"{where} status {response.status_code}: {response.text[:200]}")
                continue
            reads += 1
            shown = response.json()
            for name, value in full.items():
                if name in ("person_id", "timeline"):
                    continue
                cells += 1
                category = category_of(JourneyView, name)
                denied += category not in allowed
                denied_by_kind[kind] = denied_by_kind.get(kind, 0) + (category not in allowed)
                if (name in shown) != (category in allowed):
                    problems.append(f"{where} {name} ({category}): {'shown' if name in shown else 'hidden'}")
                elif name in shown and shown[name] != value:
                    problems.append(f"{where} {name} differs from the full view")
            wanted_entries = [e for e in full["timeline"] if Category.CORE in allowed or e["source"] == ORG[kind]]
            got = {e["event_id"]: e for e in shown.get("timeline", [])}
            if [e["event_id"] for e in wanted_entries] != list(got):
                problems.append(f"{where} timeline {len(got)} entries, wanted {len(wanted_entries)}")
                continue
            for entry in wanted_entries:
                whole = set(Category) if entry["source"] == ORG[kind] else allowed - {Category.REPORTER}
                problems.extend(_check_entry(entry, got[entry["event_id"]], whole, f"{where} {entry['type']}"))
                cells += len(entry["data"]) + len(entry["personal"])
                hidden = sum(1 for part, model in zip(("data", "personal"), family_models(entry["type"]), strict=True)
                             for name in entry[part] if category_of(model, name) not in whole)
                denied += hidden
                denied_by_kind[kind] = denied_by_kind.get(kind, 0) + hidden
    # Before the policy, outreach, council and charity keys read every field of everyone.
    before = sum(n for kind, n in denied_by_kind.items() if kind in (T.OUTREACH, T.COUNCIL, T.CHARITY))
    print(f"\naccess matrix: {len(VIEWERS)} kinds x {len(STATES)} states, {reads} reads, {cells} field cells "
          f"checked, {denied} denied; leaks: {before} before the policy (fields those keys were shown that it "
          f"denies), {len(problems)} now")
    assert problems == []
    assert _audited(system) - audited_before == reads, "every read of a person's data has exactly one audit entry"


def _cells(full: dict[str, Any]) -> int:
    """Every field of the journey view and of its timeline entries' data and personal parts."""
    return (len(full) - 2) + sum(len(e["data"]) + len(e["personal"]) for e in full["timeline"])


def _audited(system: System) -> int:
    with system.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(audit_entries)).scalar_one()


def test_consent_withdrawn_hides_its_categories_on_the_next_read(system: System) -> None:
    keys = _keys(system)
    at = local_noon(1, system.settings.zone)
    brick = keys[T.CHARITY]
    person = _accepted(system.post("/v1/contacts", contact_body(None, at=at, personal={"needs": ["drugs"]}),
                                   key=system.outreach_key))["person_id"]
    # Outreach makes the charity the key worker's organisation: it works with the person.
    _accepted(system.post("/v1/cases", step_body(person, "key_worker_assigned", at + timedelta(minutes=5), {
        "key_worker": "B1", "organisation": ORG[T.CHARITY]}), key=system.outreach_key))
    # Consent is recorded by an organisation that works with the person, as the worker has applied it.
    system.wait_journey(person, events=2)
    given = _accepted(system.post("/v1/consents", step_body(person, "given", at + timedelta(minutes=10), {
        "organisation_types": ["charity"], "categories": ["core", "health"], "obtained": "verbal"}),
        key=system.outreach_key))

    def needs_seen() -> Any:
        response = system.call("GET", f"/v1/people/{person}/journey", brick)
        if response.status_code != 200:
            return None
        return [e["personal"].get("needs") for e in response.json().get("timeline", [])
                if e["type"] == "contact.recorded"]

    assert system.wait_for("the brick sees health needs with consent", lambda: needs_seen() == [["drugs"]])
    sent = time.monotonic()
    _accepted(system.post("/v1/consents", step_body(person, "withdrawn", at + timedelta(minutes=20),
                                                    {"consent": given["event_id"]}), key=system.outreach_key))
    system.wait_for("the withdrawal to hide them", lambda: needs_seen() == [])
    print(f"\nconsent withdrawn: hidden on the read {time.monotonic() - sent:.2f}s after the 202")


def test_other_organisations_objects_are_not_found_and_writes_follow_the_rules(system: System) -> None:
    keys = _keys(system)
    at = local_noon(1, system.settings.zone)
    person = _accepted(system.post("/v1/contacts", contact_body(None, at=at), key=system.outreach_key))["person_id"]
    system.wait_journey(person, events=1)
    # A charity with no relationship: the person does not exist for it.
    assert system.call("GET", f"/v1/people/{person}/journey", keys[T.CHARITY]).status_code == 404
    assert system.call("GET", "/v1/people/00000000-0000-4000-8000-000000000009/journey",
                       keys[T.CHARITY]).status_code == 404
    # Closing a case (or recording a death) is for the key worker's organisation or the council.
    closing = step_body(person, "closed", at + timedelta(hours=1), {"close_reason": "died"})
    # A charity that does not work with the person may not even find them to write about (404);
    # one that does may not record a death (test_abuse.py).
    refused = system.post("/v1/cases", closing, key=keys[T.CHARITY])
    assert refused.status_code == 404, refused.text
    # The public cannot attach a report to a known person.
    named = system.post("/v1/reports", report_body(at=at, person_id=person), key=keys[T.PUBLIC])
    assert named.status_code == 422 and named.json()["errors"][0]["loc"] == ["body", "person_id"]
    # Another organisation's bed request is not found, for reading or for recording a stay.
    provider = {"provider_id": "hub-one", "name": "Hub One", "kind": "hub", "area_code": "TC-MARKET"}
    assert system.post("/v1/beds/providers", provider, key=keys[T.HOUSING_PROVIDER]).status_code == 202
    system.wait_for("the provider", lambda: any(
        p["provider_id"] == "hub-one" for p in system.call("GET", "/v1/beds/providers", system.council_key).json()))
    asked = system.post("/v1/beds/requests", {"person_id": person, "provider_id": "hub-one"}, key=system.outreach_key)
    assert asked.status_code == 202, asked.text
    request_id = asked.json()["request_id"]
    system.wait_for("the decision", lambda: system.call("GET", f"/v1/beds/requests/{request_id}",
                                                        system.outreach_key).status_code == 200)
    assert system.call("GET", f"/v1/beds/requests/{request_id}", keys[T.HOUSING_PROVIDER]).status_code == 200
    assert system.call("GET", f"/v1/beds/requests/{request_id}", keys[T.CHARITY]).status_code == 404
    assert system.call("POST", f"/v1/beds/requests/{request_id}/check-in", keys[T.CHARITY]).status_code == 404


def test_keys_belong_to_members_expire_and_revoke_at_once_and_break_glass_is_audited(system: System) -> None:
    now = datetime.now(UTC)
    at = local_noon(1, system.settings.zone)
    admin = issue_key(system.engine, organisation="platform", role=Role.ADMIN, now=now)
    member = system.call("POST", "/v1/members", admin, {"organisation": "the-brick", "organisation_type": "charity",
                                                        "name": "Jo Bloggs"})
    assert member.status_code == 201, member.text
    member_id = member.json()["member_id"]
    issued = system.call("POST", f"/v1/members/{member_id}/keys", admin, {"expires_in_days": 30})
    assert issued.status_code == 201
    key = issued.json()["key"]
    person = _accepted(system.post("/v1/contacts", contact_body(None, at=at, personal={"needs": ["drugs"]}),
                                   key=system.outreach_key))["person_id"]
    system.wait_journey(person, events=1)
    # The member's events carry the member as actor, never just the organisation (The Brick
    # works with the person once outreach makes it the key worker's organisation).
    _accepted(system.post("/v1/cases", step_body(person, "key_worker_assigned", at + timedelta(seconds=30), {
        "key_worker": "B1", "organisation": "the-brick"}), key=system.outreach_key))
    system.wait_journey(person, events=2)
    record = _accepted(system.post("/v1/cases", step_body(person, "strengths_recorded", at + timedelta(minutes=1),
                                                          {}, {"goals": ["a job"]}), key=key))
    actors = {json.loads(r.value)["id"]: json.loads(r.value)["actor"] for r in system.topic_records(INTAKE)}
    assert actors[record["event_id"]] == member_id
    # Break-glass: seen beyond the policy, for a stated reason, listed for the data protection lead.
    stranger = issue_key(system.engine, organisation="the-brick", role=Role.CHARITY, now=now)
    lead = issue_key(system.engine, organisation="the-brick", role=Role.CHARITY, now=now, data_protection_lead=True)
    other = _accepted(system.post("/v1/contacts", contact_body(None, at=at, personal={"needs": ["drugs"]}),
                                  key=system.outreach_key))["person_id"]
    system.wait_journey(other, events=1)
    assert system.call("GET", f"/v1/people/{other}/journey", stranger).status_code == 404
    short = system.call("POST", f"/v1/people/{other}/break-glass", stranger, {"reason": "urgent"})
    assert short.status_code == 422
    glass = system.call("POST", f"/v1/people/{other}/break-glass", stranger,
                        {"reason": "Safeguarding: reported missing tonight", "minutes": 5})
    assert glass.status_code == 201, glass.text
    seen = system.call("GET", f"/v1/people/{other}/journey", stranger)
    assert seen.status_code == 200 and seen.json()["timeline"][0]["personal"]["needs"] == ["drugs"]
    assert system.call("GET", "/v1/audit/break-glass", stranger).status_code == 403
    grants = system.call("GET", "/v1/audit/break-glass", lead).json()
    assert [g["person_id"] for g in grants] == [other]
    audit = system.call("GET", "/v1/audit", lead).json()
    assert [(a["person_id"], a["rule"]) for a in audit if a["person_id"] == other] == [(other, "break_glass")]
    disclosures = system.call("GET", f"/v1/people/{other}/disclosures", lead).json()
    assert len(disclosures) == 1 and disclosures[0]["member_name"] == "member"
    # The worker relays the audit table to the append-only audit topic, keyed by organisation.
    relayed = system.wait_for("the break-glass read on the audit topic", lambda: [
        json.loads(r.value) for r in system.topic_records(AUDIT)
        if json.loads(r.value)["person_id"] == other and json.loads(r.value)["organisation"] == "the-brick"])
    assert [r["rule"] for r in relayed] == ["break_glass"]
    assert all(r.key.decode() == json.loads(r.value)["organisation"]
               for r in system.topic_records(AUDIT))
    # Revoked: refused on the very next request. Expired: refused.
    assert system.call("DELETE", f"/v1/keys/{key_id_of(key)}", key).status_code == 204
    assert system.call("GET", "/v1/keys", key).status_code == 401
    expired = issue_key(system.engine, organisation="the-brick", role=Role.CHARITY, now=now,
                        expires_at=now - timedelta(seconds=1))
    assert system.call("GET", "/v1/keys", expired).status_code == 401


def test_statistics_never_point_at_a_person_except_for_the_council(system: System) -> None:
    keys = _keys(system)
    at = local_noon(3, system.settings.zone)
    person = _accepted(system.post("/v1/contacts", contact_body(None, at=at), key=system.outreach_key))["person_id"]
    system.wait_journey(person, events=1)
    period = f"start={(at - timedelta(days=1)).date()}&end={(at + timedelta(days=2)).date()}"
    exact = system.call("GET", f"/v1/statistics?{period}", keys[T.COUNCIL]).json()
    assert exact["chain"]["seen"] == 1
    # Partners ask for whole weeks or months: a window of days slid one at a time would
    # difference out what rounding hides.
    slid = system.call("GET", f"/v1/statistics?{period}", keys[T.POLICE])
    assert slid.status_code == 422 and "whole weeks" in slid.text
    monday = at.astimezone(system.settings.zone).date() - timedelta(days=at.astimezone(system.settings.zone).weekday())
    week = f"start={monday}&end={monday + timedelta(days=7)}"
    safe = system.call("GET", f"/v1/statistics?{week}", keys[T.POLICE]).json()
    assert safe["chain"]["seen"] == "<5"


def test_search_finds_only_whom_the_searcher_may_see(system: System) -> None:
    keys = _keys(system)
    at = local_noon(1, system.settings.zone)
    person = _accepted(system.post("/v1/contacts", contact_body(None, at=at, personal={
        "known_as": "Dave Smith", "date_of_birth": "1981-04-05"}), key=system.outreach_key))["person_id"]
    system.wait_journey(person, events=1)
    before = _audited(system)
    def search(key: str, **terms: str) -> Any:
        return system.call("POST", "/v1/people/search", key, terms)

    outreach = search(keys[T.OUTREACH], name="Davey Smith").json()
    assert [(p["person_id"], p["names"], p["stage"]) for p in outreach] == [(person, ["Dave Smith"], "engaged")]
    assert search(keys[T.CHARITY], name="dave").json() == []
    assert search(keys[T.OUTREACH], name="dave", date_of_birth="1990-01-01").json() == []
    assert search(keys[T.OUTREACH]).status_code == 422
    assert system.call("GET", "/v1/people?name=dave", keys[T.OUTREACH]).status_code == 404  # never in a URL
    assert _audited(system) - before == 1  # one entry per person shown
