"""The public's report in a real browser (Playwright driving Debian's chromium) against the real
API process, broker and worker: the form refuses what is wrong, naming each field; a report sent
gives a reference whose status page says "Received" and then, once outreach records an outcome,
"Closed"; every page has no serious or critical accessibility violation (axe-core). And Open311
GeoReport v2 maps onto the same reports, with nothing personal in a request's public status."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from deploy.browser import join, passkey_store
from deploy.processes import start_api
from readmodel.keys import Role, issue_key
from schemas.settings import Settings
from tests.browser import accessible, chromium
from tests.builders import contact_body
from tests.conftest import System
from tests.passkeys import invitation_path, member_of_key

pytestmark = pytest.mark.integration


@pytest.fixture
def site(make_settings: Callable[..., Settings]) -> Iterator[tuple[System, str]]:
    # The public form takes three reports an hour from one address here (the browser test's
    # fourth is refused).
    # The giving scheme is set, so the pages point to it; the council takes the duty to refer.
    settings = make_settings(public_reports_per_hour=3, giving_scheme_name="Real Change Town",
                             giving_scheme_url="https://realchange.example.org/give",
                             housing_authorities={"*": "the-council"})
    system = System(settings)
    system.start_worker()
    api = start_api(settings, settings.state_dir / "api.log")
    try:
        # localhost, not 127.0.0.1: a passkey belongs to a host name, never an address.
        yield system, settings.origin
    finally:
        api.stop()
        system.close()


def _find(page: Any, name: str = "", area: str = "") -> None:
    """Searches with the page's own form (the terms go in the body)."""
    page.fill("#name", name)
    page.fill("#area", area)
    page.click("form:has(#name) button[type=submit]")


def authenticator(page: Any) -> tuple[Any, str]:
    """The page's virtual authenticator (Chromium's DevTools WebAuthn domain, in place of a phone):
    a platform passkey store whose fingerprint check always passes (user verification), made on
    first use; its DevTools session and id."""
    held = getattr(page, "journeys_authenticator", None)
    if held is None:
        held = page.journeys_authenticator = passkey_store(page)
    return held


def sign_in(page: Any, system: System, base: str, key: str, where: str | None = None) -> None:
    """Signs the key's member in as a member does: an invitation from their lead, a passkey made
    from it on the page's virtual authenticator (which signs them in), then the page asked for."""
    authenticator(page)
    join(page, base + invitation_path(system, key))
    if where:
        page.goto(base + where)


def test_the_public_report_form_in_a_browser(site: tuple[System, str]) -> None:
    from playwright.sync_api import sync_playwright

    system, base = site
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{base}/report")
        accessible(page, "the report form")
        page.fill("#email", "not an address")
        page.check("#wants_update")
        page.click("button[type=submit]")
        summary = page.locator(".govuk-error-summary")
        assert summary.is_visible()
        said = summary.inner_text()
        assert "Say where you saw them" in said and "Enter an email address" in said, said
        accessible(page, "the form with errors")

        page.select_option("#area_code", "TC-MARKET")
        page.fill("#place", "Doorway of the bank on Market Street")
        page.fill("#description", "Man in his 40s, green coat, with a dog")
        page.check("#over_18-yes")
        page.fill("#email", "pat@example.org")
        page.click("button[type=submit]")
        reference = page.locator("#reference").inner_text().strip()
        assert page.locator(".govuk-panel__title").inner_text() == "Report sent"
        giving = page.locator("#giving a")  # one accredited place to give, not the street
        assert giving.inner_text() == "Real Change Town"
        assert giving.get_attribute("href") == "https://realchange.example.org/give"
        accessible(page, "the confirmation")

        page.goto(f"{base}/report/{reference}")
        for _ in range(100):
            if page.locator("#status").inner_text().strip() == "Received":
                break
            time.sleep(0.1)
            page.reload()
        assert page.locator("#status").inner_text().strip() == "Received"
        assert "green coat" not in page.content() and "pat@example.org" not in page.content()
        accessible(page, "the status page")

        outcome = {"what": "outcome", "outcome": "not_found",
                   "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}
        assert system.call("POST", f"/v1/reports/{reference}/steps", system.outreach_key, outcome).status_code == 202
        for _ in range(100):
            page.reload()
            if page.locator("#status").inner_text().strip() == "Closed":
                break
            time.sleep(0.1)
        assert page.locator("#status").inner_text().strip() == "Closed"
        assert "could not find the person" in page.content()

        # Two more reports from this address are taken; the next in the hour is refused, and
        # says when to try again, in words a screen reader announces.
        for n in (2, 3, 4):
            page.goto(f"{base}/report")
            page.select_option("#area_code", "TC-STATION")
            page.fill("#place", f"Bench {n} at the bus station")
            page.fill("#description", "Woman in a red hat")
            page.check("#over_18-yes")
            page.click("button[type=submit]")
            if n < 4:
                assert page.locator(".govuk-panel__title").inner_text() == "Report sent"
        assert "3 reports in the last hour, so this one was not sent" in page.locator("#notice").inner_text()
        assert page.locator("#place").input_value() == "Bench 4 at the bus station"  # nothing typed is lost
        accessible(page, "the form refused for too many reports")
        browser.close()
    web = system.wait_for("three web reports", lambda: (n := _web_reports(system)) == 3 and n)
    time.sleep(1)
    assert _web_reports(system) == web == 3


def _web_reports(system: System) -> int:
    from sqlalchemy import func, select

    from readmodel.tables import sighting_reports

    with system.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(sighting_reports)
                                  .where(sighting_reports.c.organisation == "public-web")).scalar_one()


def test_open311_maps_onto_reports_with_nothing_personal_in_the_status(site: tuple[System, str]) -> None:
    system, base = site
    with httpx.Client(base_url=f"{base}/open311/v2") as client:
        assert [s["service_code"] for s in client.get("/services.json").json()] == ["rough-sleeping"]
        request = {"service_code": "rough-sleeping", "lat": "53.5451", "long": "-2.6325",
                   "address_string": "Bus station, stand 4", "description": "Woman, red sleeping bag",
                   "email": "sam@example.org", "first_name": "Sam"}
        refused = client.post("/requests.json", data=request)
        assert refused.status_code == 403 and refused.json()[0]["code"] == 403
        wrong = client.post("/requests.json", data={**request, "api_key": system.frontline_key, "lat": "north"})
        assert wrong.status_code == 400, wrong.text
        made = client.post("/requests.json", data={**request, "api_key": system.frontline_key})
        assert made.status_code == 201, made.text
        request_id = made.json()[0]["service_request_id"]
        status = system.wait_for("the request's status", lambda: (
            r := client.get(f"/requests/{request_id}.json")).status_code == 200 and r.json()[0])
        assert status["status"] == "open" and status["agency_responsible"] == "borough-outreach"
        outcome = {"what": "outcome", "outcome": "found_and_engaged",
                   "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}
        # Only the team the report was routed to records its steps.
        team_key = issue_key(system.engine, organisation="borough-outreach", role=Role.OUTREACH, now=datetime.now(UTC))
        assert system.call("POST", f"/v1/reports/{request_id}/steps", system.outreach_key, outcome).status_code == 404
        assert system.call("POST", f"/v1/reports/{request_id}/steps", team_key, outcome).status_code == 202
        closed = system.wait_for("the request closed", lambda: (
            s := client.get(f"/requests/{request_id}.json").json()[0])["status"] == "closed" and s)
        text = json.dumps(closed)
        for personal in ("red sleeping bag", "Bus station", "53.545", "sam@example.org", "Sam"):
            assert personal not in text, f"the public status says {personal!r}"
        assert client.get("/requests/not-a-request.json").status_code == 404


def test_a_provider_signs_in_and_checks_a_person_in(site: tuple[System, str]) -> None:
    from playwright.sync_api import sync_playwright

    from tests.integration.test_beds import ask, decision, register

    system, base = site
    register(system, "page-hub", beds=1, waitlist=0)
    person = system.post("/v1/contacts", contact_body(None)).json()["person_id"]
    request_id = ask(system, person, "page-hub")
    decision(system, request_id, "allocated")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{base}/beds")
        assert page.url.endswith("/sign-in?next=/beds")
        accessible(page, "sign-in")
        sign_in(page, system, base, system.outreach_key, "/beds")  # outreach runs no beds: signed in, not here
        assert page.locator("h1").inner_text() == "Not for you"
        assert "Only members" in page.locator("#refused").inner_text()
        page.context.clear_cookies()

        sign_in(page, system, base, system.brick_key, "/beds")
        assert page.locator("h1").inner_text() == "Tonight's beds"
        assert page.locator(f"#status-{request_id}").inner_text() == "allocated"
        accessible(page, "the beds page")
        page.click(f"#check-in-{request_id}")
        assert page.locator("#flash").inner_text() == "Checked in."
        decision(system, request_id, "checked_in")
        page.reload()
        assert page.locator(f"#status-{request_id}").inner_text() == "checked_in"

        # Removing the member (they left) signs them out of the pages at once.
        lead = issue_key(system.engine, organisation="the-brick", role=Role.CHARITY, now=datetime.now(UTC),
                         data_protection_lead=True)
        assert system.call("DELETE", f"/v1/members/{member_of_key(system, system.brick_key)}", lead).status_code == 200
        page.reload()
        assert "/sign-in" in page.url
        browser.close()


def test_the_board_shows_a_new_sighting_without_a_reload(site: tuple[System, str]) -> None:
    from playwright.sync_api import sync_playwright

    system, base = site
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        sign_in(page, system, base, system.council_key, "/board")
        assert page.locator("h1").inner_text() == "Town centre tonight"
        accessible(page, "the board")
        assert page.locator("#tonight-TC-MARKET").count() == 0
        page.wait_for_timeout(500)  # the page's live stream is open
        sent = time.monotonic()
        contact = contact_body(None, at=datetime.now(UTC) - timedelta(minutes=1))
        assert system.post("/v1/contacts", contact).status_code == 202
        page.wait_for_selector("#tonight-TC-MARKET", timeout=10_000)
        shown = time.monotonic() - sent
        # A minute ago is tonight's night, or last night's when the test runs just after noon.
        counted = [page.locator(f"#{night}-TC-MARKET").inner_text() for night in ("tonight", "last-night")]
        assert sorted(counted) == ["0", "1"], counted
        print(f"\nboard: a new sighting shown {shown:.2f} s after its submission, without a reload")
        accessible(page, "the board after an update")
        browser.close()


def test_a_contact_recorded_offline_is_sent_once_when_the_signal_returns(site: tuple[System, str]) -> None:
    from playwright.sync_api import sync_playwright

    system, base = site
    first = contact_body(None, personal={"known_as": "Dave"})
    person = system.post("/v1/contacts", first).json()["person_id"]
    system.wait_journey(person, 1)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        context = browser.new_context()
        page = context.new_page()
        sign_in(page, system, base, system.outreach_key, "/outreach")
        _find(page, "Dave")
        assert "Dave" not in page.url  # the terms went in the body
        accessible(page, "outreach search")
        page.click(f"a[href='/outreach/people/{person}']")
        assert page.locator("h1").inner_text() == "Dave"
        accessible(page, "a person")

        context.set_offline(True)
        page.fill("#next_step", "Meet at the hub at 9")
        page.click("#record")
        page.wait_for_selector("#waiting:not([hidden])")
        assert "1 contact is waiting" in page.locator("#waiting").inner_text()
        time.sleep(1)
        assert len(system.wait_journey(person, 1)["timeline"]) == 1, "nothing left the phone while offline"
        kept = page.evaluate("JSON.parse(localStorage.getItem('journeys.outbox'))[0]")

        context.set_offline(False)
        page.wait_for_selector("#waiting", state="hidden", timeout=15_000)
        system.wait_journey(person, 2)
        # Sent again (a retry after a lost answer): the same event id is nothing new.
        resent = page.evaluate("""async (item) => {
            const answer = await fetch('/outreach/contacts', {method: 'POST', credentials: 'same-origin',
              headers: {'content-type': 'application/json', 'x-csrf-token': item.csrf},
              body: JSON.stringify(item.contact)});
            return [answer.status, await answer.json()]; }""", kept)
        assert resent[0] == 202 and resent[1]["duplicate"] is True, resent
        time.sleep(1.5)
        timeline = system.wait_journey(person, 2)["timeline"]
        assert len(timeline) == 2 and timeline[-1]["personal"].get("next_step") == "Meet at the hub at 9"
        print("\noutreach: a contact recorded offline was sent once when the signal returned")
        # The phone keeps no page: a person's page asked for with no signal is a notice, and
        # nothing the service worker kept is a page.
        page.reload()
        system.wait_for("the service worker to control the page", lambda: page.evaluate(
            "() => navigator.serviceWorker.controller !== null"), timeout=10)
        context.set_offline(True)
        page.goto(f"{base}/outreach/people/{person}")
        assert page.locator("h1").inner_text() == "No signal" and "Dave" not in page.content()
        kept_urls = page.evaluate("""async () => { const urls = [];
            for (const name of await caches.keys()) {
              for (const r of await (await caches.open(name)).keys()) { urls.push(r.url); } }
            return urls; }""")
        assert kept_urls and all("/static/" in url for url in kept_urls), kept_urls
        context.set_offline(False)
        browser.close()


def test_outreach_records_a_reports_outcome_and_asks_for_a_bed_from_the_phone(
        make_settings: Callable[..., Settings]) -> None:
    from playwright.sync_api import sync_playwright

    from tests.builders import report_body
    from tests.integration.test_beds import decision, register

    # Reports in the market are due within a minute, so the one sent below is overdue at once.
    settings = make_settings(report_response_hours={"*": 24.0, "TC-MARKET": 0.001})
    system = System(settings)
    system.start_worker()
    api = start_api(settings, settings.state_dir / "api.log")
    base = settings.origin  # localhost: a passkey belongs to a host name
    try:
        register(system, "phone-hub", beds=2, waitlist=0)
        sent = system.post("/v1/reports", report_body(at=datetime.now(UTC) - timedelta(minutes=5))).json()
        report, person = sent["event_id"], sent["person_id"]
        system.wait_journey(person, 2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
            page = browser.new_page()
            sign_in(page, system, base, system.outreach_key, "/outreach")
            accessible(page, "outreach with an overdue report")
            page.click(f"#attempted-{report}")
            assert page.locator("#flash").inner_text() == "Recorded: the team went to look."
            # Once the attempt is stored the report leaves the overdue list but stays on the
            # phone, without the attempt button, until its outcome is recorded.
            system.wait_for("the attempt", lambda: system.call(
                "GET", f"/v1/reports/{report}", system.outreach_key).json()["status"] == "attempted")
            page.goto(f"{base}/outreach")
            assert page.locator(f"#attempted-{report}").count() == 0
            assert page.locator(".govuk-summary-card .govuk-tag").inner_text().startswith("Looked")
            page.select_option(f"#outcome-{report}", "found_and_engaged")
            page.click(f"#outcome-button-{report}")
            assert page.locator("#flash").inner_text() == "Recorded: the report's outcome."
            status = system.wait_for("the outcome", lambda: (
                s := system.call("GET", f"/v1/reports/{report}", system.outreach_key).json())["status"] == "closed"
                and s)
            assert status["outcome"] == "found_and_engaged" and status["first_attempt_at"] is not None

            page.goto(f"{base}/outreach/people/{person}")
            page.select_option("#provider_id", "phone-hub")
            page.click("#ask-bed")
            assert "Asked for a bed tonight" in page.locator("#flash").inner_text()
            accessible(page, "a person after asking for a bed")
            browser.close()
        asked = system.wait_for("the bed request", lambda: next(
            (e for e in system.wait_journey(person, 5)["timeline"] if e["type"].startswith("bed.")), None))
        assert asked["type"] in ("bed.allocated", "bed.requested"), asked
        rows = system.call("GET", "/v1/beds/providers/phone-hub/requests", system.brick_key).json()
        assert [r["person_id"] for r in rows] == [None]  # the provider does not work with him: it learns who in person
        assert decision(system, rows[0]["request_id"], "allocated")["person_id"] == person  # the asker sees its own
    finally:
        api.stop()
        system.close()


def test_a_charity_member_sees_only_what_the_policy_allows(site: tuple[System, str]) -> None:
    """The Brick works with one person (outreach made it the key worker's organisation, and it
    recorded their course) and not with another: its member
    finds and opens the first as far as the policy lets a charity see (the stage, where they were
    seen, the next step, and the Brick's own entry; not their name or outreach's notes), cannot open the
    second, is refused the outreach pages, and sees the board's small numbers suppressed. The
    outreach member, on the same pages, sees both people by name among those seen lately."""
    from playwright.sync_api import sync_playwright

    from tests.builders import step_body

    system, base = site
    worked_with = system.post("/v1/contacts", contact_body(None, personal={"known_as": "Dave"})).json()["person_id"]
    stranger = system.post("/v1/contacts", contact_body(None, personal={"known_as": "Davey"})).json()["person_id"]
    # Outreach makes The Brick the key worker's organisation; only then may it record the course.
    assigned = step_body(worked_with, "key_worker_assigned", datetime.now(UTC) - timedelta(minutes=20),
                         {"key_worker": "B1", "organisation": "the-brick"})
    assert system.call("POST", "/v1/cases", system.outreach_key, assigned).status_code == 202
    system.wait_journey(worked_with, 2)
    course = step_body(worked_with, "course_enrolled", datetime.now(UTC) - timedelta(minutes=10),
                       {"programme": "Kitchen skills"})
    assert system.call("POST", "/v1/work", system.brick_key, course).status_code == 202
    system.wait_journey(worked_with, 3)
    system.wait_journey(stranger, 1)

    def signed_in(page: Any, key: str, where: str) -> None:
        page.context.clear_cookies()
        sign_in(page, system, base, key, where)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        signed_in(page, system.brick_key, "/people")
        assert page.locator("h1").inner_text() == "People"
        _find(page, name="Dave")  # a charity does not see names: finding by one would confirm it
        assert page.locator("main li").count() == 0 and "Nobody found" in page.locator("main").inner_text()
        _find(page, area="TC-MARKET")
        assert page.locator(f"a[href='/people/{stranger}']").count() == 0  # the stranger is not there at all
        found = page.locator(f"main li:has(a[href='/people/{worked_with}'])")
        assert "Name not known" in found.inner_text() and "Dave" not in found.inner_text()
        accessible(page, "a charity's search")
        page.click(f"a[href='/people/{worked_with}']")
        assert page.locator("h1").inner_text() == "Name not known"
        said = page.locator("main").inner_text()
        assert "Stage" in said and "TC-MARKET" in said
        assert page.locator("#timeline li").count() == 1, "only the Brick's own entry"
        assert "Kitchen skills" in page.locator("#timeline").inner_text()
        assert "Dave" not in said and "Contact" not in said  # outreach's notes are core: not a charity's
        assert "Offer a bed again tomorrow" in said  # the next step is coordination, which it shares
        assert page.locator("#contact").count() == 0, "no outreach forms for a charity"
        accessible(page, "a person, as a charity sees them")

        page.goto(f"{base}/people/{stranger}")
        assert page.locator("h1").inner_text() == "Not found"
        # Every look is audited, naming the page it was made on; nothing for the stranger.
        from sqlalchemy import select

        from readmodel.tables import audit_entries
        with system.engine.connect() as connection:
            looked = connection.execute(select(audit_entries.c.person_id, audit_entries.c.endpoint)
                                        .where(audit_entries.c.organisation == "the-brick")).all()
        assert sorted(looked) == sorted([(worked_with, "POST /people"), (worked_with, "GET /people")]), looked
        page.goto(f"{base}/outreach/people/{worked_with}")
        assert page.locator("h1").inner_text() == "Not for you"
        page.goto(f"{base}/board")
        brick_sees = sorted(page.locator(f"#{night}-TC-MARKET").inner_text() for night in ("tonight", "last-night"))
        assert brick_sees == ["0", "<5"], brick_sees
        # The month's flow is worked out in the background; the page asks again until it shows.
        page.wait_for_selector("#flow", timeout=15_000)
        assert page.locator("#bfz-active").inner_text() == "<5"
        assert page.locator("#referrals-made").inner_text() in ("0", "<5")  # counts only, suppressed for a charity
        accessible(page, "the board with the month's flow")

        signed_in(page, system.council_key, "/board")
        council_sees = sorted(page.locator(f"#{night}-TC-MARKET").inner_text() for night in ("tonight", "last-night"))
        assert council_sees == ["0", "2"], council_sees
        assert page.locator("#bfz-active").inner_text() == "2"
        seen = page.locator("#flow tbody tr").first.inner_text()
        assert seen.startswith("Seen sleeping rough") and "2" in seen, seen

        signed_in(page, system.outreach_key, "/outreach")
        lately = page.locator("#lately li")
        assert lately.count() == 2, lately.all_inner_texts()
        assert {"Dave", "Davey"} == {page.locator(f"#lately a[href='/outreach/people/{p}']").inner_text()
                                     for p in (worked_with, stranger)}
        accessible(page, "outreach with people seen lately")
        browser.close()


def test_a_referral_accepted_in_the_browser_opens_what_the_person_agreed(site: tuple[System, str]) -> None:
    """Outreach refers Jonno to The Brick with his consent to share who he is and his support
    needs; The Brick's member sees the referral in its inbox (and nothing of Jonno), accepts it,
    and then opens his record as the policy and that consent allow: his name and benefits need,
    not his mental health. A referral declined in the same inbox shows the other person nothing."""
    from playwright.sync_api import sync_playwright

    system, base = site
    at = datetime.now(UTC) - timedelta(hours=2)
    jonno = system.post("/v1/contacts", contact_body(None, at=at, personal={
        "known_as": "Jonno", "needs": ["benefits", "mental_health"]})).json()["person_id"]
    other = system.post("/v1/contacts", contact_body(None, at=at, personal={"known_as": "Kel"})).json()["person_id"]
    system.wait_journey(jonno, 1)
    system.wait_journey(other, 1)
    made = {}
    for person, categories in ((jonno, ["core", "support_needs"]), (other, ["core"])):
        answer = system.call("POST", "/v1/referrals", system.outreach_key, {
            "person_id": person, "to_organisation": "the-brick", "occurred_at": (at + timedelta(minutes=5)).isoformat(),
            "reason": "Day centre place", "categories": categories, "consent_obtained": "verbal"})
        assert answer.status_code == 202, answer.text
        made[person] = answer.json()["event_id"]
    system.wait_for("both referrals", lambda: len(system.call("GET", "/v1/referrals", system.brick_key).json()) == 2)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        sign_in(page, system, base, system.brick_key, "/referrals")
        assert page.locator("h1").inner_text() == "Referrals"
        inbox = page.locator("#inbox").inner_text()
        assert "town-centre-outreach" in inbox and "Day centre place" in inbox and "core, support needs" in inbox
        assert "Jonno" not in inbox and "Kel" not in inbox, "the inbox shows the referral, not the person"
        accessible(page, "a charity's referrals")
        page.goto(f"{base}/people/{jonno}")
        assert page.locator("h1").inner_text() == "Not found"

        page.goto(f"{base}/referrals")
        page.click(f"#accept-{made[jonno]}")
        assert "Accepted" in page.locator("#flash").inner_text()
        page.select_option(f"#reason-{made[other]}", "no_capacity")
        page.click(f"#decline-{made[other]}")
        assert "Declined" in page.locator("#flash").inner_text()

        def opened() -> bool:
            page.goto(f"{base}/people/{jonno}")
            return page.locator("h1").inner_text() != "Not found"

        system.wait_for("Jonno's record to open for The Brick", opened)
        said = page.locator("main").inner_text()
        assert "Jonno" in said and "mental" not in said.lower(), "his name was agreed, health was not"
        # The page shows no needs; the same read through the API shows only the agreed one.
        seen = system.call("GET", f"/v1/people/{jonno}/journey", system.brick_key).json()
        assert [e["personal"].get("needs") for e in seen["timeline"] if e["type"] == "contact.recorded"] == [
            ["benefits"]]
        accessible(page, "a person referred to a charity")
        page.goto(f"{base}/people/{other}")
        assert page.locator("h1").inner_text() == "Not found", "a declined referral shows nothing"

        # Outreach sees what became of the referrals it made, with the reason for a decline.
        page.context.clear_cookies()
        sign_in(page, system, base, system.outreach_key, "/referrals")

        def answered() -> bool:
            page.goto(f"{base}/referrals")
            return "open" not in page.locator("#sent").inner_text()

        system.wait_for("both answers on the referrer's page", answered)
        assert "accepted" in page.locator(f"#sent-{made[jonno]}").inner_text()
        assert "declined (No space)" in page.locator(f"#sent-{made[other]}").inner_text()
        accessible(page, "the referrals an outreach team made")
        browser.close()


def test_a_frontline_member_reports_a_risk_on_a_phone_and_the_housing_team_takes_it_on(
        site: tuple[System, str]) -> None:
    """Eyes and ears: a job centre adviser, on a phone-sized window, ticks the signs they saw and
    that the person agreed to be referred; the form first names what is missing. The council's
    housing team finds the duty-to-refer referral in its inbox with an answer-by date and accepts
    it; the adviser's page then says the housing team took it on, and names nothing new."""
    from playwright.sync_api import sync_playwright

    system, base = site
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        sign_in(phone, system, base, system.frontline_key)
        assert phone.locator("h1").inner_text() == "Someone may lose their home"  # a frontline member's home
        accessible(phone, "the eyes and ears form")
        phone.click("#send")
        said = phone.locator(".govuk-error-summary").inner_text()
        assert "Tick at least one sign" in said and "agreed to be referred" in said, said
        accessible(phone, "the eyes and ears form with errors")

        phone.fill("#known_as", "Dee")
        phone.check("#factor-notice_to_quit")
        phone.check("#factor-loss_of_income")
        phone.check("#urgency-soon")
        phone.check("#consent-verbal")
        phone.fill("#service", "Job centre")
        phone.click("#send")
        assert "Sent" in phone.locator("#flash").inner_text()
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling on a phone"

        def listed() -> bool:
            phone.goto(f"{base}/eyes-and-ears")
            return "waiting for the housing team" in phone.locator("main").inner_text()

        system.wait_for("the report and its referral on the adviser's page", listed)
        assert "A notice to leave their home, Lost their job or income" in phone.locator("#sent").inner_text()

        housing = browser.new_page()
        sign_in(housing, system, base, system.council_key, "/referrals")
        inbox = housing.locator("#inbox").inner_text()
        assert "street-services" in inbox and "Duty to refer" in inbox and "Answer by" in inbox, inbox
        accessible(housing, "the housing team's referrals")
        housing.locator("#inbox button[id^=accept-]").first.click()
        assert "Accepted" in housing.locator("#flash").inner_text()

        def answered() -> bool:
            phone.goto(f"{base}/eyes-and-ears")
            return "The housing team took it on" in phone.locator("main").inner_text()

        system.wait_for("the answer on the adviser's page", answered)
        accessible(phone, "the adviser's reports, answered")
        browser.close()


def test_a_member_makes_passkeys_on_a_phone_from_an_invitation_and_a_lead_revokes_them(
        site: tuple[System, str]) -> None:
    """Passkeys in Chromium with virtual authenticators: an expired invitation is refused; a live
    one makes a passkey on a phone-sized window and signs the member in; they sign out and back in
    with it; after confirming it is them they add a second passkey (another device) and remove the
    first; their lead revokes every passkey and the next sign-in is refused."""
    from playwright.sync_api import sync_playwright

    from readmodel.passkeys import invite

    system, base = site
    member = member_of_key(system, system.outreach_key)
    lead = issue_key(system.engine, organisation="town-centre-outreach", role=Role.OUTREACH, now=datetime.now(UTC),
                     data_protection_lead=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        cdp, work_phone = authenticator(phone)
        expired, _ = invite(system.engine, member, datetime.now(UTC) - timedelta(days=4), valid_for=timedelta(days=3),
                            actor="operator")
        phone.goto(f"{base}/join/{expired}")
        assert "cannot be used" in phone.locator("h1").inner_text()
        accessible(phone, "an expired invitation")
        link = system.call("POST", f"/v1/members/{member}/invitations", lead).json()["link"]
        phone.goto(link)
        assert phone.locator("h1").inner_text() == "Make your passkey"
        accessible(phone, "the invitation")
        phone.click("#make-passkey")
        phone.wait_for_url(f"{base}/outreach")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling on a phone"

        phone.click("text=Sign out >> nth=0")
        phone.wait_for_url(f"{base}/sign-in")
        phone.goto(f"{base}/sign-in?next=/account")
        accessible(phone, "sign-in with a passkey")
        phone.click("#sign-in-passkey")
        phone.wait_for_url(f"{base}/account")
        assert phone.locator("#passkeys tbody tr").count() == 1
        accessible(phone, "your passkeys")

        # A second device: the first is out of reach, the new one makes the second passkey.
        cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": work_phone})
        phone.journeys_authenticator = None
        authenticator(phone)
        phone.fill("#device", "office laptop")
        phone.click("#add-passkey")
        phone.wait_for_url(f"{base}/account?flash=added")
        rows = phone.locator("#passkeys tbody").inner_text()
        assert "work phone" in rows and "office laptop" in rows, rows
        phone.click("#remove-1")
        assert "Passkey removed" in phone.locator("#flash").inner_text()
        assert "work phone" not in phone.locator("#passkeys tbody").inner_text()

        revoked = system.call("DELETE", f"/v1/members/{member}/passkeys", lead)
        assert revoked.json() == {"passkeys": 1, "invitations": 0, "sessions": 1}, revoked.text
        phone.reload()
        assert "/sign-in" in phone.url
        phone.click("#sign-in-passkey")
        phone.wait_for_selector("#passkey-problem:not([hidden])")
        assert "not known here" in phone.locator("#passkey-problem").inner_text()
        accessible(phone, "a refused passkey")
        browser.close()
