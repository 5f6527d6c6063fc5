"""Eyes and ears for prevention through the real API, broker and worker: a frontline member's
risk of homelessness report, with the person's consent, becomes their referral to the housing
authority (the duty to refer), which accepts it and starts the prevention duty; without consent
the report stays with the reporting organisation and nobody else sees the person."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.ids import duty_to_refer_id
from schemas.settings import Settings
from tests.conftest import System

pytestmark = pytest.mark.integration


@pytest.fixture
def housing(make_settings: Callable[..., Settings]) -> Iterator[System]:
    """A system whose housing authority is the test council."""
    running = System(make_settings(housing_authorities={"*": "the-council"}))
    running.start_worker()
    try:
        yield running
    finally:
        running.close()


def risk_report(at: datetime, *, consent: bool, **personal: Any) -> dict[str, Any]:
    return {
        "occurred_at": at.isoformat(),
        "details": {"urgency": "within_56_days", "consent_to_refer": consent,
                    "consent_obtained": "verbal" if consent else None, "area_code": "TC-MARKET",
                    "referring_service": "Job centre"},
        "personal": {"known_as": "Dee", "factors": ["notice_to_quit", "domestic_abuse"],
                     "contact": {"phone": "07700 900123"}, **personal},
    }


def _received(system: System, key: str) -> list[dict[str, Any]]:
    answer = system.call("GET", "/v1/referrals?box=received", key)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _journey(system: System, person: str, key: str) -> dict[str, Any] | None:
    answer = system.call("GET", f"/v1/people/{person}/journey", key)
    return answer.json() if answer.status_code == 200 else None


def test_a_risk_report_with_consent_is_referred_accepted_and_starts_a_prevention_duty(housing: System) -> None:
    at = datetime.now(UTC) - timedelta(hours=2)
    answer = housing.post("/v1/risk-reports", risk_report(at, consent=True))
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    person, report = accepted["person_id"], accepted["event_id"]

    # The duty to refer: the referral is in the housing authority's inbox, from the reporter.
    inbox = housing.wait_for("the council's inbox", lambda: _received(housing, housing.council_key))
    referral = str(duty_to_refer_id(uuid.UUID(report)))
    assert [(r["referral_id"], r["from_organisation"], r["status"]) for r in inbox] == [
        (referral, "street-services", "open")]
    assert inbox[0]["reason"] == "Duty to refer: threatened with homelessness within 56 days"
    assert set(inbox[0]["categories"]) == {"core", "contact_details", "support_needs"}

    # Before it accepts, the council sees who and the housing signs, not the abuse (support needs).
    before = housing.wait_for("the council to see Dee", lambda: _journey(housing, person, housing.council_key))
    risk = next(e for e in before["timeline"] if e["type"] == "risk.reported")
    assert risk["personal"]["factors"] == ["notice_to_quit"] and risk["personal"]["known_as"] == "Dee"
    assert before["stage"] == "at_risk"

    took = housing.call("POST", f"/v1/referrals/{referral}/accept", housing.council_key,
                        {"occurred_at": (at + timedelta(minutes=30)).isoformat()})
    assert took.status_code == 202, took.text
    started = housing.call("POST", "/v1/duties", housing.council_key, {
        "person_id": person, "what": "prevention_started", "occurred_at": (at + timedelta(hours=1)).isoformat(),
        "details": {"local_authority": "Town"}})
    assert started.status_code == 202, started.text

    def whole_path() -> dict[str, Any] | None:
        seen = _journey(housing, person, housing.council_key)
        return seen if seen and len(seen["timeline"]) >= 4 else None

    journey = housing.wait_for("the whole path on the journey", whole_path)
    assert [e["type"] for e in journey["timeline"]] == [
        "risk.reported", "referral.made", "referral.accepted", "duty.prevention_started"]
    assert journey["stage"] == "at_risk" and journey["duty"] == "prevention"
    # The reporter sees what became of its report: the answer, nothing more of the person.
    mine = housing.call("GET", "/v1/risk-reports", housing.frontline_key).json()
    assert [(r["report_id"], r["referral_status"], r["referred_to"]) for r in mine] == [
        (report, "accepted", "the-council")]
    assert housing.call("GET", "/v1/risk-reports", housing.brick_key).json() == []  # another organisation's
    risk = journey["timeline"][0]
    assert risk["personal"]["factors"] == ["notice_to_quit", "domestic_abuse"]  # consent with the referral
    assert "reporter" not in risk["personal"]


def test_without_consent_the_report_stays_with_its_organisation_and_nobody_else_sees_the_person(
        housing: System) -> None:
    at = datetime.now(UTC) - timedelta(hours=2)
    answer = housing.post("/v1/risk-reports", risk_report(at, consent=False))
    assert answer.status_code == 202, answer.text
    person = answer.json()["person_id"]
    # A contact the same organisation can see proves the worker has gone past the report.
    marker = housing.post("/v1/risk-reports", risk_report(at, consent=True, known_as="Marker"))
    assert marker.status_code == 202
    housing.wait_for("the marker's referral", lambda: _received(housing, housing.council_key))

    for key in (housing.council_key, housing.outreach_key, housing.brick_key):
        assert housing.call("GET", f"/v1/people/{person}/journey", key).status_code == 404
    found = housing.call("POST", "/v1/people/search", housing.council_key, {"name": "Dee"})
    assert found.status_code == 200 and person not in found.text
    assert [r["from_organisation"] for r in _received(housing, housing.council_key)] == ["street-services"]
    assert len(_received(housing, housing.council_key)) == 1  # only the marker's


def test_a_risk_report_says_who_what_and_how_soon_or_is_refused_and_changes_nothing(system: System) -> None:
    at = datetime.now(UTC) - timedelta(hours=1)
    no_factors = risk_report(at, consent=False)
    no_factors["personal"]["factors"] = []
    no_consent_how = risk_report(at, consent=True)
    no_consent_how["details"]["consent_obtained"] = None
    nobody = risk_report(at, consent=False)
    del nobody["personal"]["known_as"]
    for body, said in ((no_factors, "at least one factor"), (no_consent_how, "consent_obtained"),
                       (nobody, "say who")):
        answer = system.post("/v1/risk-reports", body)
        assert answer.status_code == 422 and said in answer.text, answer.text
    named = system.post("/v1/risk-reports", {**risk_report(at, consent=False), "person_id": str(uuid.uuid4())})
    assert named.status_code == 422 and "frontline" in named.text
    public = system.post("/v1/risk-reports", risk_report(at, consent=False), key=system.council_key)
    assert public.status_code == 202  # the council's own staff are eyes and ears too


def test_the_demo_reports_people_at_risk_and_the_board_shows_a_home_kept(system: System) -> None:
    """What a newcomer's `deploy/dev up` sends: five risk reports (four with consent), three
    referrals taken on with their prevention duties, one home kept; sent twice, nothing twice.
    The board's figures (readmodel/board.month_flow) show them."""
    from deploy.demo import send_demo_prevention
    from deploy.processes import start_api
    from journey.nights import night_of
    from journey.statistics import Rules
    from readmodel.board import month_flow
    from readmodel.keys import Role, issue_key

    now = datetime.now(UTC)
    keys = {"frontline": system.frontline_key,
            "council": issue_key(system.engine, organisation="town-council", role=Role.COUNCIL, now=now)}
    api = start_api(system.settings, system.settings.state_dir / "api.log")
    try:
        url = f"http://{system.settings.api_host}:{system.settings.api_port}"
        assert send_demo_prevention(url, keys) == 5
        send_demo_prevention(url, keys)

        def figures() -> dict[str, Any] | None:
            shown = month_flow(system.engine, Rules.configured(system.settings),
                               night_of(datetime.now(UTC), system.settings.zone))["prevention"]
            return shown if shown["accommodation_secured"] and shown["prevention_duties_started"] == 3 else None

        prevention = system.wait_for("the demo's prevention on the board", figures)
    finally:
        api.stop()
    assert {k: prevention[k] for k in ("risk_reports", "referred_with_consent", "referrals_accepted",
                                       "prevention_duties_started", "accommodation_secured")} == {
        "risk_reports": 5, "referred_with_consent": 4, "referrals_accepted": 3, "prevention_duties_started": 3,
        "accommodation_secured": 1}
    assert prevention["by_referring_organisation"] == {"street-services": 5}
