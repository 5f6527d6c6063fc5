"""A council member signs in through the council's own identity provider (OpenID Connect), a
real one started by the test (panva's oidc-provider on Node, tests/identity_provider.py), through
the real API process: the authorisation code flow with PKCE, state and nonce; a member is matched
by the mapped claim and never made by the provider; an answer cannot be replayed or taken to
another browser; a forged, expired or misdirected ID token, a wrong nonce and another issuer's
answer are refused; signing out at the provider ends the session here (back channel)."""

from __future__ import annotations

import json
import re
import secrets
from base64 import urlsafe_b64encode
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy import update

from api.single_sign_on import IdentityProviders, SignInRefused, nonce_of
from deploy import identity_provider as stand_in
from deploy.processes import Part, start_api
from readmodel.keys import Role, issue_key
from readmodel.tables import page_sessions
from schemas.settings import Settings, SignInProvider
from tests.browser import accessible, chromium
from tests.conftest import System
from tests.identity_provider import IdentityProvider
from tests.passkeys import member_of_key

pytestmark = pytest.mark.integration

COUNCIL = "the-council"
ACCOUNTS = {"c.jones": {"email": "c.jones@town.gov.uk", "name": "C Jones"},
            "stranger": {"email": "someone@town.gov.uk", "name": "Not a member"}}


@dataclass
class Site:
    system: System
    provider: IdentityProvider
    origin: str
    api: Part
    admin: str
    private_key: str  # the PEM of the client "journeys-key", which proves itself with it

    def browser(self) -> httpx.Client:
        return httpx.Client(base_url=self.origin, timeout=10.0)


@pytest.fixture
def site(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[Site]:
    settings = make_settings(sign_in_failures_allowed=50)
    key = RSAKey.generate_key(2048)
    provider = IdentityProvider(tmp_path, settings.origin, organisation=COUNCIL, accounts=ACCOUNTS,
                                clients=("journeys", "another-service"),
                                keyed_clients={"journeys-key": key.as_dict(private=False)})
    settings = settings.model_copy(update={"sign_in_providers": (SignInProvider(**provider.setting()),)})
    system = System(settings)
    api = None
    try:
        api = start_api(settings, settings.state_dir / "api.log")
        admin = issue_key(system.engine, organisation="platform", role=Role.ADMIN, now=datetime.now(UTC))
        yield Site(system, provider, settings.origin, api, admin, key.as_pem(private=True).decode())
    finally:
        if api is not None:
            api.stop()
        system.close()
        provider.close()


def _csrf(browser: httpx.Client) -> str:
    page = browser.get("/sign-in")
    assert page.status_code == 200 and "Sign in with Town Council" in page.text, page.text[:300]
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def _start(site: Site, browser: httpx.Client, **fields: str) -> str:
    """The member presses "Sign in with Town Council": the address of the provider's sign-in."""
    started = browser.post(f"/sign-in/with/{COUNCIL}", data={"csrf": _csrf(browser), **fields})
    assert started.status_code == 303, started.text[:300]
    return started.headers["location"]


def _name(site: Site, member: str, name: str | None) -> None:
    done = site.system.call("PUT", f"/v1/members/{member}/sign-in-name", site.admin, {"sign_in_name": name})
    assert done.status_code == 204, done.text


def test_a_council_member_signs_in_through_the_councils_provider_and_out_again_there(site: Site) -> None:
    member = member_of_key(site.system, site.system.council_key)
    _name(site, member, "c.jones@town.gov.uk")
    browser = site.browser()
    address = _start(site, browser)
    asked = parse_qs(urlsplit(address).query)
    assert address.startswith(f"{site.provider.issuer}/auth?")
    assert asked["code_challenge_method"] == ["S256"] and asked["response_type"] == ["code"]
    assert {"state", "nonce", "code_challenge"} <= set(asked) and "openid" in asked["scope"][0].split()
    back = site.provider.sign_in(address, "c.jones")
    assert back.startswith(f"{site.origin}/sign-in/with/{COUNCIL}/back?"), back
    arrived = browser.get(back)
    refusal = re.findall(r"did not sign you in[^<]*", arrived.text)
    assert arrived.status_code == 303 and arrived.headers["location"] == "/board", refusal
    assert browser.get("/board").status_code == 200, "the council's page, signed in as the member"
    # The provider's answer cannot be used twice: not in this browser, nor taken to another.
    assert browser.get(back).status_code == 400
    other = site.browser()
    assert other.get(back).status_code == 400 and other.get("/board").status_code in (303, 401, 403)
    # Signing out at the provider ends the session here at once (its back channel).
    site.provider.sign_out()
    assert browser.get("/board", follow_redirects=False).status_code == 303, "signed out by the provider"
    audit = site.system.call("GET", "/v1/audit/accounts", site.admin).json()
    done = [(e["action"], e["detail"]) for e in audit if e["member_id"] == member and e["action"].startswith("session")]
    assert ("session.signed_in", "single_sign_on") in done
    assert ("session.signed_out", "at their identity provider") in done
    assert not any("c.jones" in str(e) for e in audit), "the sign-in name is not in the audit"


def test_the_provider_signs_in_only_members_made_here_first(site: Site) -> None:
    browser = site.browser()
    back = site.provider.sign_in(_start(site, browser), "stranger")
    refused = browser.get(back)
    assert refused.status_code == 403 and "not sign you in here" in refused.text
    assert browser.get("/board", follow_redirects=False).status_code == 303
    # Nor a member whose sign-in name was taken away (who has left the council's team).
    member = member_of_key(site.system, site.system.council_key)
    _name(site, member, "c.jones@town.gov.uk")
    _name(site, member, None)
    browser = site.browser()
    site.provider.browser.cookies.clear()
    back = site.provider.sign_in(_start(site, browser), "c.jones")
    assert browser.get(back).status_code == 403
    audit = site.system.call("GET", "/v1/audit/accounts", site.admin).json()
    failures = [e["detail"] for e in audit if e["action"] == "session.sign_in_failed" and e["organisation"] == COUNCIL]
    assert failures == ["single_sign_on: no member has that sign-in name"] * 2


def test_a_tampered_answer_is_refused_and_uses_up_the_sign_in(site: Site) -> None:
    member = member_of_key(site.system, site.system.council_key)
    _name(site, member, "c.jones@town.gov.uk")
    # Another state (a forged answer, or one meant for another sign-in), and another issuer's
    # answer (RFC 9207: a mix-up), are refused; the sign-in is used up, genuine answer or not.
    for tamper in (lambda query: re.sub(r"state=[^&]+", "state=forged", query),
                   lambda query: re.sub(r"iss=[^&]+", "iss=http%3A%2F%2Fidentity.example", query)):
        browser = site.browser()
        site.provider.browser.cookies.clear()
        genuine = site.provider.sign_in(_start(site, browser), "c.jones")
        tampered = tamper(genuine)
        assert tampered != genuine
        assert browser.get(tampered).status_code == 403
        assert browser.get(genuine).status_code == 400
        assert browser.get("/board").status_code == 303
    browser = site.browser()
    site.provider.browser.cookies.clear()
    assert browser.get(site.provider.sign_in(_start(site, browser), "c.jones")).status_code == 303, "untouched"


def _token(site: Site, **setting: str) -> tuple[str, str]:
    """An ID token from the provider itself (the code flow, for this client), and its nonce."""
    providers = IdentityProviders((SignInProvider(**site.provider.setting(**setting)),))
    provider = providers.get(COUNCIL)
    assert provider is not None
    secret = secrets.token_bytes(32)
    back = f"{site.origin}/sign-in/with/{COUNCIL}/back"
    site.provider.browser.cookies.clear()
    answer = parse_qs(urlsplit(site.provider.sign_in(providers.authorization_url(provider, back, secret),
                                                     "c.jones")).query)
    return providers.exchange(provider, back, secret, answer["code"][0])["id_token"], nonce_of(secret)


def test_forged_expired_misdirected_and_replayed_id_tokens_are_refused(site: Site) -> None:
    providers = IdentityProviders((SignInProvider(**site.provider.setting()),))
    provider = providers.get(COUNCIL)
    assert provider is not None
    id_token, nonce = _token(site)
    now = datetime.now(UTC)
    claims = providers.verify_id_token(provider, id_token, nonce=nonce, now=now)
    assert claims["sub"] == "c.jones" and claims["aud"] == "journeys" and claims["nonce"] == nonce
    header, _, signature = id_token.split(".")
    decoded = jwt.decode(id_token, providers.keys(provider))
    lead = json.dumps({**decoded.claims, "sub": "the-lead"}).encode()
    forged = {
        # The claims changed (another member), the provider's signature kept.
        "changed claims": f"{header}.{urlsafe_b64encode(lead).rstrip(b'=').decode()}.{signature}",
        # Signed by another key that claims the provider's key id.
        "another key": jwt.encode(decoded.header, decoded.claims, RSAKey.generate_key(2048)),
        # Signed with the client secret (HS256), as if that were the provider's key.
        "the client secret": jwt.encode({"alg": "HS256"}, decoded.claims, OctKey.import_key(site.provider.secret),
                                        algorithms=["HS256"]),
    }
    for what, token in forged.items():
        with pytest.raises(SignInRefused, match="signature"):
            providers.verify_id_token(provider, token, nonce=nonce, now=now)
        assert providers.verify_id_token(provider, id_token, nonce=nonce, now=now), what
    expiry = datetime.fromtimestamp(claims["exp"], UTC)
    with pytest.raises(SignInRefused, match="exp"):
        providers.verify_id_token(provider, id_token, nonce=nonce, now=expiry + timedelta(minutes=5))
    with pytest.raises(SignInRefused, match="nonce"):
        providers.verify_id_token(provider, id_token, nonce="another sign-in's nonce", now=now)
    # A token the provider made for another service (its own client id) is not for this one.
    elsewhere = IdentityProviders((SignInProvider(**site.provider.setting(client_id="another-service")),))
    elsewhere_provider = elsewhere.get(COUNCIL)
    assert elsewhere_provider is not None
    with pytest.raises(SignInRefused, match="aud"):
        elsewhere.verify_id_token(elsewhere_provider, id_token, nonce=nonce, now=now)


def test_a_council_member_signs_in_through_it_in_chromium_and_sees_the_board(site: Site) -> None:
    """The same in a real browser (Debian's chromium): the sign-in page offers the council's own
    account, the provider's pages sign the member in, and they land on the board they asked for."""
    from playwright.sync_api import sync_playwright

    _name(site, member_of_key(site.system, site.system.council_key), "c.jones@town.gov.uk")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{site.origin}/board")
        page.wait_for_url(f"{site.origin}/sign-in?**")
        accessible(page, "the sign-in page with the council's own account")
        page.click("text=Sign in with Town Council")
        page.wait_for_url(f"{site.provider.issuer}/interaction/**")
        page.fill("input[name=login]", "c.jones")
        page.fill("input[name=password]", "any")
        page.click("button[type=submit]")
        page.click("button:has-text('Continue')")
        page.wait_for_url(f"{site.origin}/board")
        assert page.locator("h1").inner_text() == "Town centre tonight"
        accessible(page, "the board after single sign-on")
        # Break-glass asks them to confirm it is them at the provider afresh (the page's policy
        # lets that form go on to the provider: Chromium would block it otherwise).
        with site.system.engine.begin() as connection:  # signed in 20 minutes ago
            connection.execute(update(page_sessions).values(
                authenticated_at=datetime.now(UTC) - timedelta(minutes=20)))
        glass = f"{site.origin}/people/{uuid4()}/break-glass"
        page.goto(glass)
        accessible(page, "break-glass, before confirming")
        page.click("#confirm-with-provider")
        page.wait_for_url(f"{site.provider.issuer}/interaction/**")
        page.fill("input[name=login]", "c.jones")
        page.fill("input[name=password]", "any")
        page.click("button[type=submit]")
        page.wait_for_url(glass)
        assert page.locator("#break-glass").is_visible()
        accessible(page, "break-glass, confirmed")
        browser.close()


def test_a_client_proves_itself_with_a_private_key_instead_of_a_secret(site: Site) -> None:
    keyed = {"client_id": "journeys-key", "client_private_key": site.private_key}
    entry = {**site.provider.setting(), **keyed}
    del entry["client_secret"]
    provider = SignInProvider(**entry)
    providers = IdentityProviders((provider,))
    secret = secrets.token_bytes(32)
    back = f"{site.origin}/sign-in/with/{COUNCIL}/back"
    site.provider.browser.cookies.clear()
    answer = parse_qs(urlsplit(site.provider.sign_in(providers.authorization_url(provider, back, secret),
                                                     "c.jones")).query)
    token = providers.exchange(provider, back, secret, answer["code"][0])
    claims = providers.verify_id_token(provider, token["id_token"], nonce=nonce_of(secret), now=datetime.now(UTC))
    assert claims["aud"] == "journeys-key" and claims["sub"] == "c.jones"
    # Another key (someone who knows the client id, not the key) gets nothing for a code.
    another_key = RSAKey.generate_key(2048).as_pem(private=True).decode()
    impostor = SignInProvider(**{**entry, "client_private_key": another_key})
    site.provider.browser.cookies.clear()
    answer = parse_qs(urlsplit(site.provider.sign_in(providers.authorization_url(provider, back, secret),
                                                     "c.jones")).query)
    with pytest.raises(SignInRefused, match="refused the code"):
        IdentityProviders((impostor,)).exchange(impostor, back, secret, answer["code"][0])
    with pytest.raises(ValueError, match="not both"):
        SignInProvider(**{**entry, "client_secret": "also a secret"})


def test_a_member_who_signs_in_through_the_provider_confirms_it_is_them_there_afresh(site: Site) -> None:
    from readmodel.keys import add_member

    member = member_of_key(site.system, site.system.council_key)
    _name(site, member, "c.jones@town.gov.uk")
    colleague = add_member(site.system.engine, organisation=COUNCIL, organisation_type=Role.COUNCIL, name="Colleague",
                           now=datetime.now(UTC), sign_in_name="someone@town.gov.uk")
    assert colleague
    browser = site.browser()

    def signed_in_a_while_ago() -> str:
        site.provider.browser.cookies.clear()
        assert browser.get(site.provider.sign_in(_start(site, browser), "c.jones")).status_code == 303
        with site.system.engine.begin() as connection:  # signed in 20 minutes ago
            connection.execute(update(page_sessions).values(
                authenticated_at=datetime.now(UTC) - timedelta(minutes=20)))
        account = browser.get("/account")
        assert 'id="confirm-with-provider"' in account.text and 'id="add-passkey"' not in account.text
        assert site.provider.issuer in account.headers["content-security-policy"], "its form may go to the provider"
        csrf = re.search(r'name="csrf" value="([^"]+)"', account.text)
        assert csrf is not None
        return csrf.group(1)

    def confirm(csrf: str, login: str) -> httpx.Response:
        started = browser.post("/confirm/with-provider", data={"csrf": csrf, "next": "/account"})
        assert started.status_code == 303, started.text[:300]
        asked = parse_qs(urlsplit(started.headers["location"]).query)
        assert asked["prompt"] == ["login"] and asked["max_age"] == ["0"], "the provider must ask again"
        return browser.get(site.provider.sign_in(started.headers["location"], login))

    # Someone else signing in at the provider (a colleague at the same computer) confirms nothing;
    # the provider ends the member's session there, and so here (its back channel).
    assert confirm(signed_in_a_while_ago(), "stranger").status_code == 403
    assert browser.get("/account").status_code == 303, "signed out"
    came_back = confirm(signed_in_a_while_ago(), "c.jones")
    assert came_back.status_code == 303 and came_back.headers["location"] == "/account"
    assert 'id="add-passkey"' in browser.get("/account").text, "confirmed: account changes allowed"


def test_a_stand_in_provider_that_hangs_at_its_start_is_started_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Node once hung at the provider's start in CI (every thread waiting, nothing listening), and
    # the test waiting for "ready" waited for ever. A stand-in for the stand-in: hangs the first
    # time, says ready the second.
    script = tmp_path / "hangs-once.mjs"
    script.write_text(
        "import { existsSync, writeFileSync } from 'node:fs';\n"
        "const started = process.argv[2] + '.started';\n"
        "if (existsSync(started)) console.log('ready'); else writeFileSync(started, '');\n"
        "setInterval(() => {}, 1000);\n")
    monkeypatch.setattr(stand_in, "PROVIDER", script)
    monkeypatch.setattr(stand_in, "available", lambda: True)
    monkeypatch.setattr(stand_in, "READY_WITHIN_S", 1)
    provider = stand_in.StandInProvider(tmp_path / "provider", "http://127.0.0.1:1", organisation="council",
                                        accounts={})
    try:
        assert provider.process.poll() is None
    finally:
        provider.close()
    assert "did not say it was ready in 1 s" in (tmp_path / "provider" / "identity-provider.log").read_text()
