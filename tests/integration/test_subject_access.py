"""Subject access through the real API, broker and worker: the council's data protection lead
gets everything held about a person (every personal field put in, from every organisation, and
every disclosure), nothing about their reporter, as JSON and as a printable page; nobody else
may ask."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from readmodel.keys import Role, issue_key
from tests.authenticator import SoftAuthenticator
from tests.builders import report_body
from tests.conftest import System
from tests.passkeys import invitation_path, join

pytestmark = pytest.mark.integration

CANARY = "Zqx7"  # in every personal field of the person; the reporter's own marker is REPORTER
REPORTER = "Wvk9"


def test_the_data_protection_lead_gets_everything_held_and_nothing_about_the_reporter(system: System) -> None:
    at = datetime.now(UTC) - timedelta(hours=3)
    now = datetime.now(UTC)
    lead = issue_key(system.engine, organisation="the-council", role=Role.COUNCIL, now=now, data_protection_lead=True)
    brick_lead = issue_key(system.engine, organisation="the-brick", role=Role.CHARITY, now=now,
                           data_protection_lead=True)
    report = system.post("/v1/reports", report_body(at, personal={
        "person_description": f"{CANARY} description", "place": {"description": f"{CANARY} doorway"},
        "reporter": {"name": f"Pat {REPORTER}", "phone": "07700 900456"}}, details={"wants_update": True}))
    assert report.status_code == 202, report.text
    person = report.json()["person_id"]
    contact = system.post("/v1/contacts", {
        "person_id": person, "occurred_at": (at + timedelta(hours=1)).isoformat(),
        "details": {"team": "TCO", "worker": "W1", "bedded_down": True, "engaged": True, "area_code": "TC-MARKET"},
        "personal": {"known_as": f"Jo {CANARY}", "date_of_birth": "1980-02-03", "needs": ["mental_health"],
                     "notes": f"{CANARY} notes", "next_step": f"{CANARY} next step"}}, key=system.outreach_key)
    assert contact.status_code == 202, contact.text
    system.wait_journey(person, 3)  # the report, its routing, the contact (read by outreach: a disclosure)

    assert system.call("GET", f"/v1/people/{person}/subject-access", system.council_key).status_code == 403
    assert system.call("GET", f"/v1/people/{person}/subject-access", brick_lead).status_code == 403
    answer = system.call("GET", f"/v1/people/{person}/subject-access", lead)
    assert answer.status_code == 200, answer.text
    given = answer.json()
    text = answer.text
    # Every personal field the canary was put in, from both organisations, is there.
    for put in (f"{CANARY} description", f"{CANARY} doorway", f"Jo {CANARY}", f"{CANARY} notes",
                f"{CANARY} next step", "1980-02-03", "mental_health"):
        assert put in text, put
    assert REPORTER not in text and "07700 900456" not in text, "the reporter's details are the reporter's"
    assert [e["type"] for e in given["journey"]["timeline"]] == ["report.received", "report.routed",
                                                                "contact.recorded"]
    assert {d["organisation"] for d in given["disclosures"]} >= {"town-centre-outreach"}
    assert [r["organisation"] for r in given["organisations_working_with_them"]] == ["town-centre-outreach"]
    # The answer itself is a disclosure, on the record.
    again = system.call("GET", f"/v1/people/{person}/subject-access", lead).json()
    assert [d["rule"] for d in again["disclosures"]].count("subject_access") == 1
    assert system.call("GET", f"/v1/people/{'0' * 8}-0000-0000-0000-{'0' * 12}/subject-access",
                       lead).status_code == 404

    # The printable page, for the lead signed in.
    assert join(system.client, invitation_path(system, lead), SoftAuthenticator(system.settings.origin)).status_code \
        == 200
    page = system.client.get(f"/people/{person}/subject-access")
    assert page.status_code == 200 and "The information held about you" in page.text
    assert f"Jo {CANARY}" in page.text and REPORTER not in page.text
