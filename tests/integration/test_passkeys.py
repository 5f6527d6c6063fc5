"""Members sign in as themselves with passkeys, through the real API and database (the phone is
tests/authenticator.py; the browser tests use Chromium's virtual authenticator): an invitation
works once and only until it expires; a sign-in answer cannot be replayed, relayed by a
look-alike site or used by another browser; adding or removing a passkey needs the member to
confirm who they are, with their own passkey; an organisation's lead revokes every passkey of a
member at once; and no page takes an API key any more."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select

from deploy.processes import free_port
from readmodel.keys import Role, issue_key
from readmodel.passkeys import invite
from readmodel.tables import invitation_emails
from schemas.settings import Settings
from tests.authenticator import SoftAuthenticator
from tests.conftest import System
from tests.integration.test_reporters import Inbox
from tests.passkeys import enrolled, invitation_path, join, member_of_key, page_csrf, sign_in

pytestmark = pytest.mark.integration


@pytest.fixture
def site(make_settings: Callable[..., Settings]) -> Iterator[System]:
    running = System(make_settings(sign_in_failures_allowed=50))  # no worker: nothing here needs one
    try:
        yield running
    finally:
        running.close()


def _signed_in(client: TestClient) -> bool:
    return client.get("/outreach", follow_redirects=False).status_code == 200


def test_an_invitation_makes_a_passkey_once_and_only_before_it_expires(site: System) -> None:
    path = invitation_path(site, site.outreach_key)
    phone = SoftAuthenticator(site.settings.origin)
    page = site.client.get(path)
    assert page.status_code == 200 and "Make your passkey" in page.text
    joined = join(site.client, path, phone)
    assert joined.status_code == 200 and joined.json() == {"go": "/outreach"}, joined.text
    assert _signed_in(site.client)
    again = TestClient(site.client.app)
    assert again.get(path).status_code == 410, "used once"
    assert again.post(f"{path}/options", json={"csrf": page_csrf(again, "/sign-in")}).status_code == 410
    member = member_of_key(site, site.outreach_key)
    expired, _ = invite(site.engine, member, datetime.now(UTC) - timedelta(hours=2), valid_for=timedelta(hours=1),
                        actor="operator")
    assert again.get(f"/join/{expired}").status_code == 410, "expired"
    first, _ = invite(site.engine, member, datetime.now(UTC), valid_for=timedelta(hours=1), actor="operator")
    second, _ = invite(site.engine, member, datetime.now(UTC), valid_for=timedelta(hours=1), actor="operator")
    assert again.get(f"/join/{first}").status_code == 410, "withdrawn by the newer one"
    assert again.get(f"/join/{second}").status_code == 200
    # Started from a live link, finished after another registration used it: refused, nothing kept.
    csrf = page_csrf(again, f"/join/{second}")
    options = again.post(f"/join/{second}/options", json={"csrf": csrf}).json()
    assert join(TestClient(site.client.app), f"/join/{second}", SoftAuthenticator(site.settings.origin)).status_code \
        == 200
    late = again.post(f"/join/{second}", json={"csrf": csrf, "device": "x",
                                              "credential": SoftAuthenticator(site.settings.origin).create(options)})
    assert late.status_code == 422 and "invitation" in late.json()["error"]
    assert sign_in(TestClient(site.client.app), phone).status_code == 200


def test_only_the_members_lead_or_an_admin_sends_an_invitation(site: System) -> None:
    now = datetime.now(UTC)
    lead = issue_key(site.engine, organisation="town-centre-outreach", role=Role.OUTREACH, now=now,
                     data_protection_lead=True)
    other_lead = issue_key(site.engine, organisation="the-brick", role=Role.CHARITY, now=now, data_protection_lead=True)
    member = member_of_key(site, site.outreach_key)
    path = f"/v1/members/{member}/invitations"
    assert site.call("POST", path, site.outreach_key).status_code == 404, "not on the member's own say-so"
    assert site.call("POST", path, other_lead).status_code == 404
    made = site.call("POST", path, lead)
    assert made.status_code == 201, made.text
    link = made.json()["link"]
    assert link.startswith(f"{site.settings.origin}/join/")
    joined = join(site.client, link.removeprefix(site.settings.origin), SoftAuthenticator(site.settings.origin))
    assert joined.status_code == 200
    audit = site.call("GET", "/v1/audit/accounts", lead).json()
    actions = [a["action"] for a in reversed(audit) if a["member_id"] == member]
    assert actions[-3:] == ["invitation.sent", "passkey.registered", "session.signed_in"], actions
    assert link.rsplit("/", 1)[1] not in str(audit)


def test_a_sign_in_answer_is_not_replayed_relayed_or_used_by_another_browser(site: System) -> None:
    phone = enrolled(site, site.outreach_key)
    browser = TestClient(site.client.app)
    csrf = page_csrf(browser, "/sign-in")
    options = browser.post("/sign-in/passkey/options", json={"csrf": csrf}).json()
    answer = {"csrf": csrf, "next": "/outreach", "credential": phone.get(options)}
    # Another browser (the attacker's) with the answer but its own ceremony: refused.
    thief = TestClient(site.client.app)
    thief_csrf = page_csrf(thief, "/sign-in")
    assert thief.post("/sign-in/passkey/options", json={"csrf": thief_csrf}).status_code == 200
    stolen = thief.post("/sign-in/passkey", json={**answer, "csrf": thief_csrf})
    assert stolen.status_code == 422 and not _signed_in(thief)
    handle = browser.cookies.get("journeys_ceremony")
    assert browser.post("/sign-in/passkey", json=answer).status_code == 200 and _signed_in(browser)
    browser.cookies.delete("journeys_session")
    browser.cookies.set("journeys_ceremony", handle)  # as a copy of the browser's cookies would hold it
    replayed = browser.post("/sign-in/passkey", json=answer)
    assert replayed.status_code == 422 and not _signed_in(browser), "a ceremony is answered once"
    # A look-alike site relays a real challenge: the phone signs its own origin, which is refused.
    browser = TestClient(site.client.app)
    assert sign_in(browser, phone, origin="https://journeys-council.example.net").status_code == 422
    assert sign_in(browser, phone, rp_id="example.net").status_code == 422
    # Without the page's own token the ceremony does not start (a form posted from elsewhere).
    assert browser.post("/sign-in/passkey/options", json={"csrf": "guessed"}).status_code == 400
    assert sign_in(browser, phone).status_code == 200


def test_no_page_takes_an_api_key_any_more(site: System) -> None:
    client = TestClient(site.client.app)
    page = client.get("/sign-in").text
    assert 'name="key"' not in page and "passkey" in page
    csrf = page_csrf(client, "/sign-in")
    tried = client.post("/sign-in", data={"key": site.outreach_key, "csrf": csrf}, follow_redirects=False)
    assert tried.status_code == 405 and not _signed_in(client)
    as_passkey = client.post("/sign-in/passkey", json={"csrf": csrf, "credential": {"id": site.outreach_key}})
    assert as_passkey.status_code == 422 and not _signed_in(client)


def test_a_second_passkey_is_added_after_confirming_and_one_removed_leaves_the_other(site: System) -> None:
    phone = enrolled(site, site.outreach_key, site.client)
    laptop = SoftAuthenticator(site.settings.origin)
    account = site.client.get("/account")
    assert account.status_code == 200 and "work phone" in account.text
    csrf = page_csrf(site.client, "/account")
    assert 'id="add-passkey"' in account.text, "just signed in: confirmed"
    with site.client as client:
        options = client.post("/account/passkeys/options", json={"csrf": csrf})
        added = client.post("/account/passkeys", json={"csrf": csrf, "device": "office laptop",
                                                         "credential": laptop.create(options.json())})
    assert added.status_code == 200 and added.json() == {"go": "/account?flash=added"}, added.text
    assert sign_in(TestClient(site.client.app), laptop).status_code == 200
    # Registering the same device twice is refused by the phone itself (excludeCredentials).
    options = site.client.post("/account/passkeys/options", json={"csrf": csrf}).json()
    with pytest.raises(ValueError, match="excluded"):
        laptop.create(options)
    # A colleague's passkey cannot confirm this member.
    colleague = enrolled(site, issue_key(site.engine, organisation="town-centre-outreach", role=Role.OUTREACH,
                                         now=datetime.now(UTC)))
    options = site.client.post("/account/confirm/options", json={"csrf": csrf}).json()
    assert options["allowCredentials"], "only the member's own passkeys"
    refused = site.client.post("/account/confirm", json={"csrf": csrf, "credential": colleague.get(
        options, credential_id=next(iter(colleague.credentials)))})
    assert refused.status_code == 422 and "another member" in refused.json()["error"]
    removed = site.client.post("/account/passkeys/remove", data={"csrf": csrf, "passkey": "1"}, follow_redirects=False)
    assert removed.status_code == 303
    assert sign_in(TestClient(site.client.app), phone).status_code == 422, "the work phone's passkey was removed"
    assert sign_in(TestClient(site.client.app), laptop).status_code == 200
    last = site.client.post("/account/passkeys/remove", data={"csrf": csrf, "passkey": "1"}, follow_redirects=False)
    assert last.status_code == 422, "the last passkey stays"


def test_account_changes_need_a_recent_confirmation(site: System) -> None:
    from sqlalchemy import update

    from readmodel.tables import page_sessions

    phone = enrolled(site, site.outreach_key, site.client)
    with site.engine.begin() as connection:  # the member signed in 20 minutes ago
        connection.execute(update(page_sessions).values(
            authenticated_at=datetime.now(UTC) - timedelta(minutes=20)))
    csrf = page_csrf(site.client, "/account")
    assert 'id="confirm"' in site.client.get("/account").text
    found = SoftAuthenticator(site.settings.origin)  # whoever found the phone, signed in
    assert site.client.post("/account/passkeys/options", json={"csrf": csrf}).status_code == 403
    assert site.client.post("/account/passkeys/remove", data={"csrf": csrf, "passkey": "1"}).status_code == 403
    options = site.client.post("/account/confirm/options", json={"csrf": csrf}).json()
    confirmed = site.client.post("/account/confirm", json={"csrf": csrf, "credential": phone.get(options)})
    assert confirmed.status_code == 200, confirmed.text
    options = site.client.post("/account/passkeys/options", json={"csrf": csrf})
    assert options.status_code == 200
    assert site.client.post("/account/passkeys", json={"csrf": csrf, "device": "tablet",
                                                       "credential": found.create(options.json())}).status_code == 200


def test_a_lead_revokes_every_passkey_of_a_member_at_once(site: System) -> None:
    now = datetime.now(UTC)
    lead = issue_key(site.engine, organisation="town-centre-outreach", role=Role.OUTREACH, now=now,
                     data_protection_lead=True)
    member = member_of_key(site, site.outreach_key)
    phone = enrolled(site, site.outreach_key, site.client)
    assert _signed_in(site.client)
    assert site.call("DELETE", f"/v1/members/{member}/passkeys", site.brick_key).status_code == 404
    revoked = site.call("DELETE", f"/v1/members/{member}/passkeys", lead)
    assert revoked.status_code == 200 and revoked.json() == {"passkeys": 1, "invitations": 0, "sessions": 1}
    assert not _signed_in(site.client), "signed out at the next request"
    assert sign_in(TestClient(site.client.app), phone).status_code == 422
    again = enrolled(site, site.outreach_key)  # a new invitation, a new passkey
    assert sign_in(TestClient(site.client.app), again).status_code == 200
    assert site.call("DELETE", f"/v1/members/{member}", lead).status_code == 200
    assert sign_in(TestClient(site.client.app), again).status_code == 422, "a removed member's passkey"


def test_a_lead_has_the_platform_email_an_invitation_which_then_forgets_the_address(
        make_settings: Callable[..., Settings]) -> None:
    inbox, port = Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    system = System(make_settings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False))
    system.start_worker()
    try:
        lead = issue_key(system.engine, organisation="town-centre-outreach", role=Role.OUTREACH,
                         now=datetime.now(UTC), data_protection_lead=True)
        member = member_of_key(system, system.outreach_key)
        bad = system.call("POST", f"/v1/members/{member}/invitations", lead, {"email": "not an address"})
        assert bad.status_code == 422 and "email" in bad.text
        asked = system.call("POST", f"/v1/members/{member}/invitations", lead, {"email": "sam@outreach.example"})
        assert asked.status_code == 201 and asked.json()["emailed"] is True, asked.text
        system.wait_for("the invitation's email", lambda: inbox.messages)
        (email,) = inbox.messages
        text = email.get_payload(decode=True).decode()
        assert email["To"] == "sam@outreach.example" and asked.json()["link"] in text
        # The emailed link works once, as a link given by hand does.
        path = asked.json()["link"].removeprefix(system.settings.origin)
        assert join(system.client, path, SoftAuthenticator(system.settings.origin)).status_code == 200
        # Sent: the platform keeps neither the address nor the link, and the audit says it went.
        with system.engine.connect() as connection:
            (row,) = connection.execute(select(invitation_emails)).all()
        assert row.status == "sent" and row.to_address is None and row.link is None
        audit = system.call("GET", "/v1/audit/accounts", lead).json()
        assert [(a["action"], a["detail"]) for a in audit if a["action"] == "invitation.emailed"] == [
            ("invitation.emailed", None)]
        assert "sam@outreach.example" not in str(audit)
    finally:
        system.close()
        smtp.stop()
    # Without a mail server the platform says so and invites nobody.
    unmailed = System(make_settings())
    try:
        lead = issue_key(unmailed.engine, organisation="town-centre-outreach", role=Role.OUTREACH,
                         now=datetime.now(UTC), data_protection_lead=True)
        member = member_of_key(unmailed, unmailed.outreach_key)
        refused = unmailed.call("POST", f"/v1/members/{member}/invitations", lead, {"email": "sam@outreach.example"})
        assert refused.status_code == 422 and "SMTP_HOST" in refused.text
        with unmailed.engine.connect() as connection:
            assert connection.execute(select(invitation_emails)).all() == []
    finally:
        unmailed.close()


def test_break_glass_on_the_pages_needs_the_member_to_confirm_it_is_them_first(
        make_settings: Callable[..., Settings]) -> None:
    from sqlalchemy import func, update

    from readmodel.tables import break_glass, page_sessions
    from tests.builders import contact_body

    system = System(make_settings(sign_in_failures_allowed=50))
    system.start_worker()
    try:
        person = system.post("/v1/contacts", contact_body(None, personal={"known_as": "Kept Private"})).json()
        system.wait_journey(person["person_id"], 1)
        where = f"/people/{person['person_id']}"
        client = system.client
        phone = enrolled(system, system.brick_key, client)
        assert "Kept Private" not in client.get(where).text, "The Brick does not work with them"
        assert 'id="break-glass-link"' in client.get(where).text
        with system.engine.begin() as connection:  # signed in 20 minutes ago: a phone left on a table
            connection.execute(update(page_sessions).values(
                authenticated_at=datetime.now(UTC) - timedelta(minutes=20)))
        page = client.get(f"{where}/break-glass")
        assert page.status_code == 200 and 'id="confirm"' in page.text and 'id="break-glass"' not in page.text
        csrf = page_csrf(client, f"{where}/break-glass")
        reason = {"csrf": csrf, "reason": "Safeguarding: missing from the hostel tonight", "minutes": "30"}
        refused = client.post(f"{where}/break-glass", data=reason, follow_redirects=False)
        assert refused.status_code == 403 and "Confirm it" in refused.text

        def grants() -> int:
            with system.engine.connect() as connection:
                return int(connection.execute(select(func.count()).select_from(break_glass)).scalar_one())

        assert grants() == 0
        # Confirming with the member's own passkey brings them back to the break-glass page.
        options = client.post("/account/confirm/options", json={"csrf": csrf}).json()
        confirmed = client.post("/account/confirm", json={"csrf": csrf, "next": f"{where}/break-glass",
                                                          "credential": phone.get(options)})
        assert confirmed.status_code == 200 and confirmed.json() == {"go": f"{where}/break-glass"}
        assert 'id="break-glass"' in client.get(f"{where}/break-glass").text
        short = client.post(f"{where}/break-glass", data={**reason, "reason": "urgent"}, follow_redirects=False)
        assert short.status_code == 422 and "10 to 500" in short.text and grants() == 0
        taken = client.post(f"{where}/break-glass", data=reason, follow_redirects=False)
        assert taken.status_code == 303 and taken.headers["location"] == where
        assert grants() == 1 and "Kept Private" in client.get(where).text, "read under the grant"
        lead = issue_key(system.engine, organisation="the-brick", role=Role.CHARITY, now=datetime.now(UTC),
                         data_protection_lead=True)
        audit = [a["action"] for a in system.call("GET", "/v1/audit/accounts", lead).json()]
        assert "session.confirmed" in audit and "break_glass.taken" in audit
    finally:
        system.close()
