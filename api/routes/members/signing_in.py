"""Signing in with a passkey, joining from an invitation, the member's own passkeys, and
signing out. Keys are for partner systems only: no page takes one.

Every route that checks a secret (a passkey's answer, an invitation's link) counts failures per
address: past SIGN_IN_FAILURES_ALLOWED in 15 minutes, that address waits, even with the right
passkey, so guessing gains nothing."""

from __future__ import annotations

import hmac
import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from api import sessions
from api.deps import EngineDep, SettingsDep
from api.passkeys import (
    CEREMONY_COOKIE,
    PasskeyRefused,
    authenticate,
    authentication_options,
    register,
    registration_options,
)
from api.public import Allowance
from api.routes.members.common import SERVICE, BodyDep, FormDep, csrf_ok, refusal_page, router, signed_in_member
from api.routes.pages import page, secure_cookies
from api.sessions import SessionRules
from api.single_sign_on import LEEWAY_SECONDS, IdentityProviders, SignInRefused
from readmodel.keys import Role, account_event, member_of
from readmodel.passkeys import (
    finish_ceremony,
    invitation,
    member_name,
    member_passkeys,
    member_principal,
    member_signing_in_as,
    passkey,
    remove_passkey,
    sha256,
    start_ceremony,
)

SIGN_IN_CSRF = "journeys_sign_in_csrf"
CEREMONY_SECONDS = 300


# Where a member goes after signing in when no page asked for it: their kind of organisation's page.
HOMES = {Role.OUTREACH: "/outreach", Role.FRONTLINE: "/eyes-and-ears", Role.POLICE: "/eyes-and-ears",
         Role.HEALTH: "/people", Role.COUNCIL: "/board"}


def home_of(role: Role) -> str:
    return HOMES.get(role, "/beds")


def _safe_next(target: Any) -> str:
    """Only a path on this site (never //elsewhere): sign-in must not send anyone away. Empty:
    the member's home, chosen once they are known."""
    ok = isinstance(target, str) and target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if ok else ""


def _sign_in_csrf(request: Request, answer: Response, csrf: str) -> None:
    answer.set_cookie(SIGN_IN_CSRF, csrf, httponly=True, samesite="strict", secure=secure_cookies(request), path="/")


def _sign_in_page(request: Request, code: int, next_page: str, notice: str | None = None) -> HTMLResponse:
    csrf = request.cookies.get(SIGN_IN_CSRF) or secrets.token_urlsafe(32)
    providers = _identity_providers(request).providers.values()
    # The provider buttons post here and are sent on to the provider's sign-in: the page's
    # policy lets its forms go there (Chrome holds redirects to form-action too).
    answer = page(request, "sign_in.html", code, title="Sign in", service=SERVICE, home="/sign-in", csrf=csrf,
                  next=next_page, notice=notice, providers=sorted(providers, key=lambda p: p.name),
                  form_targets=provider_origins(request))
    _sign_in_csrf(request, answer, csrf)
    return answer


def _identity_providers(request: Request) -> IdentityProviders:
    return request.app.state.identity_providers  # type: ignore[no-any-return]


def provider_origins(request: Request) -> tuple[str, ...]:
    """Where a page's forms may be sent on to: the identity providers' sign-in (its policy's
    form-action; Chrome holds redirects after a form to it too)."""
    return tuple(sorted({f"{urlsplit(p.issuer).scheme}://{urlsplit(p.issuer).netloc}"
                         for p in _identity_providers(request).providers.values()}))


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query's name
    return _sign_in_page(request, 200, _safe_next(next))


def _json(body: bytes) -> dict[str, Any]:
    try:
        given = json.loads(body or b"{}")
    except ValueError:
        return {}
    return given if isinstance(given, dict) else {}


def _refused(code: int, said: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": said}, status_code=code, headers=headers)


def _waiting(request: Request) -> JSONResponse | None:
    """The address's answer while it has failed too often (429), else None."""
    allowance: Allowance = request.app.state.sign_in_allowance
    wait = allowance.minutes_to_wait(_address(request), time.time())
    if not wait:
        return None
    return _refused(429, f"Too many sign-ins failed from here: try again in {wait} minute{'s' if wait > 1 else ''}",
                    {"retry-after": str(wait * 60)})


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _failed(request: Request) -> None:
    request.app.state.sign_in_allowance.count(_address(request))


def _with_ceremony(request: Request, options: str, handle: str) -> Response:
    answer = Response(options, media_type="application/json")
    answer.set_cookie(CEREMONY_COOKIE, handle, httponly=True, samesite="strict", secure=secure_cookies(request),
                      max_age=CEREMONY_SECONDS, path="/")
    return answer


def _signed_in(request: Request, engine: Any, settings: Any, principal: Any, go: str, *, shared: bool,
               method: str = "passkey") -> Response:
    answer = _session_begun(request, engine, settings, principal, JSONResponse({"go": go}), method=method,
                            shared=shared)
    answer.delete_cookie(CEREMONY_COOKIE, path="/")
    return answer


def _session_begun(request: Request, engine: Any, settings: Any, principal: Any, answer: Response, *, method: str,
                   shared: bool, provider_session: str | None = None) -> Response:
    """The answer, with the cookie of a session just begun for the member."""
    token, lifetime = sessions.begin(engine, principal, datetime.now(UTC), SessionRules.configured(settings),
                                     method=method, shared=shared, provider_session=provider_session)
    answer.set_cookie(sessions.COOKIE, token, httponly=True, samesite="lax", secure=secure_cookies(request),
                      max_age=int(lifetime.total_seconds()), path="/")
    return answer


@router.post("/sign-in/passkey/options")
def sign_in_options(request: Request, engine: EngineDep, settings: SettingsDep, body: BodyDep) -> Response:
    if not hmac.compare_digest(request.cookies.get(SIGN_IN_CSRF, ""), str(_json(body).get("csrf", "-"))):
        return _refused(400, "Your sign-in page ran out: reload it and try again")
    if waiting := _waiting(request):
        return waiting
    handle, options = authentication_options(engine, settings, datetime.now(UTC))
    return _with_ceremony(request, options, handle)


@router.post("/sign-in/passkey")
def sign_in(request: Request, engine: EngineDep, settings: SettingsDep, body: BodyDep) -> Response:
    given = _json(body)
    if not hmac.compare_digest(request.cookies.get(SIGN_IN_CSRF, ""), str(given.get("csrf", "-"))):
        return _refused(400, "Your sign-in page ran out: reload it and try again")
    if waiting := _waiting(request):
        return waiting
    now = datetime.now(UTC)
    credential = given.get("credential")
    try:
        principal = authenticate(engine, settings, request.cookies.get(CEREMONY_COOKIE),
                                 credential if isinstance(credential, dict) else {}, now)
    except PasskeyRefused as refused:
        _failed(request)
        _audit_failure(engine, credential, now)
        return _refused(422, str(refused))
    return _signed_in(request, engine, settings, principal, _safe_next(given.get("next")) or home_of(principal.role),
                      shared=given.get("shared") == "yes")


def _audit_failure(engine: Any, credential: Any, now: datetime) -> None:
    """A failed sign-in with a passkey the platform knows is in its member's organisation's
    account audit; an unknown one names no organisation (the allowance still counts it)."""
    credential_id = credential.get("id") if isinstance(credential, dict) else None
    kept = passkey(engine, credential_id) if isinstance(credential_id, str) and len(credential_id) < 1400 else None
    if kept is not None:
        with engine.begin() as connection:
            account_event(connection, organisation=kept.organisation, actor=kept.member_id,
                          action="session.sign_in_failed", now=now, member_id=kept.member_id)


# Single sign-on: the organisation's identity provider says who the member is (api/single_sign_on.py).

# The sign-in's handle comes back with the provider's redirect, a cross-site navigation: Lax,
# not Strict, or the browser would leave it behind.
SIGN_IN_WITH_COOKIE = "journeys_sign_in_with"
SINGLE_SIGN_ON = "single_sign_on"


def _back_address(settings: Any, organisation: str) -> str:
    return f"{settings.origin}/sign-in/with/{organisation}/back"


@router.post("/sign-in/with/{organisation}")
def sign_in_with(organisation: str, request: Request, engine: EngineDep, settings: SettingsDep,
                 form: FormDep) -> Response:
    """Off to the organisation's identity provider, with a new ceremony's state, nonce and PKCE."""
    next_page = _safe_next(form.get("next"))
    if not hmac.compare_digest(request.cookies.get(SIGN_IN_CSRF, ""), form.get("csrf", "-")):
        return _sign_in_page(request, 400, next_page, "Your sign-in page ran out: try again")
    if waiting := _waiting(request):
        return waiting
    provider = _identity_providers(request).get(organisation)
    if provider is None:
        return _sign_in_page(request, 404, next_page, "That organisation does not sign in through its own account")
    going = _to_provider(request, engine, settings, provider, {
        "organisation": organisation, "shared": form.get("shared") == "yes", "next": next_page})
    return going or _sign_in_page(request, 502, next_page, f"{provider.name}'s sign-in did not answer: try again "
                                                           "soon, or sign in with a passkey")


def _to_provider(request: Request, engine: Any, settings: Any, provider: Any, carried: dict[str, Any], *,
                 again: bool = False) -> Response | None:
    """A new ceremony carrying `carried`, and the browser sent to the provider's sign-in with its
    handle in a cookie; None when the provider does not answer."""
    handle, secret = start_ceremony(engine, SINGLE_SIGN_ON, datetime.now(UTC), carried=carried)
    try:
        address = _identity_providers(request).authorization_url(
            provider, _back_address(settings, carried["organisation"]), secret, again=again)
    except SignInRefused:
        return None
    answer = RedirectResponse(address, status_code=303)
    answer.set_cookie(SIGN_IN_WITH_COOKIE, handle, httponly=True, samesite="lax", secure=secure_cookies(request),
                      max_age=CEREMONY_SECONDS, path="/sign-in/with")
    return answer


@router.get("/sign-in/with/{organisation}/back")
def signed_in_with(organisation: str, request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    """The provider's answer: the ceremony this browser started, its state, the code exchanged
    and the ID token checked; then the member it names, if the organisation has one."""
    if waiting := _waiting(request):
        return waiting
    now = datetime.now(UTC)
    providers = _identity_providers(request)
    provider = providers.get(organisation)
    ceremony = finish_ceremony(engine, request.cookies.get(SIGN_IN_WITH_COOKIE), SINGLE_SIGN_ON, now)
    carried = (ceremony.carried or {}) if ceremony is not None else {}
    if provider is None or carried.get("organisation") != organisation:
        _failed(request)  # a replayed or forged answer counts like a failed sign-in
        return _sign_in_page(request, 400, "", "That sign-in ran out or was already used: start again")
    confirming = carried.get("confirm")
    try:
        proof = providers.finish(provider, _back_address(settings, organisation), ceremony.challenge,
                                 dict(request.query_params), now)
        principal = member_signing_in_as(engine, organisation, proof.sign_in_name)
        if principal is None:
            raise SignInRefused("no member has that sign-in name")
        if confirming:
            # Confirming it is them: the same member as the session's, who proved it afresh at
            # the provider after this ceremony began (not a sign-in remembered from before).
            session = _session(request, engine)
            began = ceremony.expires_at - timedelta(seconds=CEREMONY_SECONDS)
            if session is None or confirming != session.principal.member_id or principal.member_id != confirming:
                raise SignInRefused("another member signed in at the provider")
            if proof.authenticated_at is None or proof.authenticated_at < began - timedelta(seconds=LEEWAY_SECONDS):
                raise SignInRefused("the provider did not ask for the member's sign-in again")
    except SignInRefused as refused:
        _failed(request)
        with engine.begin() as connection:  # the organisation's audit; the check that failed, never the token
            account_event(connection, organisation=organisation, actor="identity provider",
                          action="session.sign_in_failed", now=now, detail=f"{SINGLE_SIGN_ON}: {refused}")
        return _sign_in_page(request, 403, "", f"{provider.name} did not sign you in here ({refused}). If you "
                                               "are new, ask your organisation's data protection lead to add you.")
    if confirming:
        sessions.reauthenticated(engine, request.cookies.get(sessions.COOKIE, ""), now)
        account_event_now(engine, principal, "session.confirmed", SINGLE_SIGN_ON)
        answer = RedirectResponse(_safe_next(carried.get("next")) or "/account?flash=confirmed", status_code=303)
        answer.delete_cookie(SIGN_IN_WITH_COOKIE, path="/sign-in/with")
        return answer
    going = RedirectResponse(_safe_next(carried.get("next")) or home_of(principal.role), status_code=303)
    answer = _session_begun(request, engine, settings, principal, going, method=SINGLE_SIGN_ON,
                            shared=bool(carried.get("shared")), provider_session=proof.provider_session)
    answer.delete_cookie(SIGN_IN_WITH_COOKIE, path="/sign-in/with")
    return answer


def confirm_ways(request: Request, engine: Any, principal: Any) -> dict[str, Any]:
    """How a member can confirm it is them: with a passkey they hold, and through their
    organisation's identity provider if they sign in through it (its name, or None)."""
    provider = _identity_providers(request).get(principal.organisation)
    member = member_of(engine, principal.member_id)
    return {"passkey": bool(member_passkeys(engine, principal.member_id)),
            "provider": provider.name if provider and member is not None and member.sign_in_name else None}


@router.post("/confirm/with-provider")
def confirm_with_provider(request: Request, engine: EngineDep, settings: SettingsDep, form: FormDep) -> Response:
    """Confirming it is them through the organisation's identity provider, which must ask the
    member to sign in afresh (prompt=login, max_age=0); then back to the page they were on."""
    session = _session(request, engine)
    if session is None:
        return RedirectResponse("/sign-in?next=/account", status_code=303)
    if not hmac.compare_digest(session.csrf, form.get("csrf", "-")):
        return refusal_page(request, "That form could not be used: go back and try again.")
    if waiting := _waiting(request):
        return waiting
    principal = session.principal
    provider = _identity_providers(request).get(principal.organisation)
    if provider is None or confirm_ways(request, engine, principal)["provider"] is None:
        return refusal_page(request, "You do not sign in through your organisation's account.")
    going = _to_provider(request, engine, settings, provider, {
        "organisation": principal.organisation, "confirm": principal.member_id, "next": _safe_next(form.get("next"))},
        again=True)
    return going or refusal_page(request, f"{provider.name}'s sign-in did not answer: try again soon.", 503)


@router.post("/sign-in/with/{organisation}/signed-out")
def signed_out_at_provider(organisation: str, engine: EngineDep, form: FormDep, request: Request) -> Response:
    """Back-channel sign-out: the provider says the member left its session, so the sessions
    begun through it end at once (every API process checks the session on each request)."""
    provider = _identity_providers(request).get(organisation)
    unstored = {"cache-control": "no-store"}
    if provider is None:
        return JSONResponse({"error": "invalid_request"}, status_code=404, headers=unstored)
    now = datetime.now(UTC)
    try:
        provider_session = _identity_providers(request).verify_logout_token(provider, form.get("logout_token", ""),
                                                                            now)
    except SignInRefused as refused:
        return JSONResponse({"error": "invalid_request", "error_description": str(refused)}, status_code=400,
                            headers=unstored)
    sessions.end_provider_sessions(engine, provider_session, now)
    return Response(status_code=200, headers=unstored)


# Joining: a one-time invitation's link makes the member's first passkey and signs them in.

def _join_page(request: Request, token: str, code: int, invited: Any) -> HTMLResponse:
    csrf = request.cookies.get(SIGN_IN_CSRF) or secrets.token_urlsafe(32)
    answer = page(request, "join.html", code, title="Make your passkey" if invited else "Invitation not usable",
                  service=SERVICE, home="/sign-in", csrf=csrf, token=token, invited=invited)
    _sign_in_csrf(request, answer, csrf)
    return answer


@router.get("/join/{token}", response_class=HTMLResponse)
def join_page(token: str, request: Request, engine: EngineDep) -> Response:
    if waiting := _waiting(request):
        return waiting
    invited = invitation(engine, token, datetime.now(UTC))
    if invited is None:
        _failed(request)  # a guessed link counts like a failed sign-in
    return _join_page(request, token, 200 if invited else 410, invited)


@router.post("/join/{token}/options")
def join_options(token: str, request: Request, engine: EngineDep, settings: SettingsDep, body: BodyDep) -> Response:
    if not hmac.compare_digest(request.cookies.get(SIGN_IN_CSRF, ""), str(_json(body).get("csrf", "-"))):
        return _refused(400, "This page ran out: reload it and try again")
    if waiting := _waiting(request):
        return waiting
    now = datetime.now(UTC)
    invited = invitation(engine, token, now)
    if invited is None:
        _failed(request)
        return _refused(410, "This invitation has expired, was used or was replaced: ask for a new one")
    handle, options = registration_options(engine, settings, invited.member_id, invited.name, now,
                                           invitation_sha256=sha256(token))
    return _with_ceremony(request, options, handle)


@router.post("/join/{token}")
def join(token: str, request: Request, engine: EngineDep, settings: SettingsDep, body: BodyDep) -> Response:
    given = _json(body)
    if not hmac.compare_digest(request.cookies.get(SIGN_IN_CSRF, ""), str(given.get("csrf", "-"))):
        return _refused(400, "This page ran out: reload it and try again")
    now = datetime.now(UTC)
    credential = given.get("credential")
    try:
        member_id = register(engine, settings, request.cookies.get(CEREMONY_COOKIE),
                             credential if isinstance(credential, dict) else {}, str(given.get("device", "")), now)
    except PasskeyRefused as refused:
        _failed(request)
        return _refused(422, str(refused))
    principal = member_principal(engine, member_id)
    if principal is None:
        return _refused(410, "This invitation's member was removed")
    return _signed_in(request, engine, settings, principal, home_of(principal.role), shared=False)


# The member's own passkeys: adding or removing one needs them to have proved who they are in
# the last few minutes (sessions.REAUTHENTICATE).

def account_event_now(engine: Any, principal: Any, action: str, detail: str | None) -> None:
    with engine.begin() as connection:
        account_event(connection, organisation=principal.organisation, actor=principal.member_id, action=action,
                      now=datetime.now(UTC), member_id=principal.member_id, detail=detail)


def _session(request: Request, engine: Any) -> sessions.Session | None:
    return sessions.current(engine, request.cookies.get(sessions.COOKIE), datetime.now(UTC))


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, engine: EngineDep, flash: str | None = None) -> Response:
    session = _session(request, engine)
    if session is None:
        return RedirectResponse("/sign-in?next=/account", status_code=303)
    said = {"added": "Passkey added.", "removed": "Passkey removed.", "confirmed": "Confirmed: you can change your "
            "passkeys for the next few minutes."}.get(flash or "")
    return page(request, "account.html", title="Your passkeys", service=SERVICE, home=home_of(session.principal.role),
                csrf=session.csrf, passkeys=member_passkeys(engine, session.principal.member_id), flash=said,
                confirmed=session.recently_authenticated(datetime.now(UTC)),
                ways=confirm_ways(request, engine, session.principal), next="/account?flash=confirmed",
                form_targets=provider_origins(request))


def _session_json(request: Request, engine: Any, given: dict[str, Any]) -> sessions.Session | JSONResponse:
    session = _session(request, engine)
    if session is None:
        return _refused(401, "You are signed out: sign in again")
    if not hmac.compare_digest(session.csrf, str(given.get("csrf", "-"))):
        return _refused(400, "This page ran out: reload it and try again")
    return session


@router.post("/account/confirm/options")
def confirm_options(request: Request, engine: EngineDep, settings: SettingsDep, body: BodyDep) -> Response:
    session = _session_json(request, engine, _json(body))
    if isinstance(session, JSONResponse):
        return session
    if waiting := _waiting(request):
        return waiting
    handle, options = authentication_options(engine, settings, datetime.now(UTC),
                                             member_id=session.principal.member_id)
    return _with_ceremony(request, options, handle)


@router.post("/account/confirm")
def confirm(request: Request, engine: EngineDep, settings: SettingsDep, body: BodyDep) -> Response:
    given = _json(body)
    session = _session_json(request, engine, given)
    if isinstance(session, JSONResponse):
        return session
    if waiting := _waiting(request):
        return waiting
    now = datetime.now(UTC)
    credential = given.get("credential")
    try:
        authenticate(engine, settings, request.cookies.get(CEREMONY_COOKIE),
                     credential if isinstance(credential, dict) else {}, now, purpose="confirm")
    except PasskeyRefused as refused:
        _failed(request)
        return _refused(422, str(refused))
    sessions.reauthenticated(engine, request.cookies.get(sessions.COOKIE, ""), now)
    account_event_now(engine, session.principal, "session.confirmed", "passkey")
    return JSONResponse({"go": _safe_next(given.get("next")) or "/account?flash=confirmed"})


@router.post("/account/passkeys/options")
def add_options(request: Request, engine: EngineDep, settings: SettingsDep, body: BodyDep) -> Response:
    session = _session_json(request, engine, _json(body))
    if isinstance(session, JSONResponse):
        return session
    now = datetime.now(UTC)
    if not session.recently_authenticated(now):
        return _refused(403, "Confirm it's you first (reload the page)")
    handle, options = registration_options(engine, settings, session.principal.member_id,
                                           member_name(engine, session.principal.member_id), now)
    return _with_ceremony(request, options, handle)


@router.post("/account/passkeys")
def add(request: Request, engine: EngineDep, settings: SettingsDep, body: BodyDep) -> Response:
    given = _json(body)
    session = _session_json(request, engine, given)
    if isinstance(session, JSONResponse):
        return session
    now = datetime.now(UTC)
    if not session.recently_authenticated(now):
        return _refused(403, "Confirm it's you first (reload the page)")
    credential = given.get("credential")
    try:
        member_id = register(engine, settings, request.cookies.get(CEREMONY_COOKIE),
                             credential if isinstance(credential, dict) else {}, str(given.get("device", "")), now)
    except PasskeyRefused as refused:
        return _refused(422, str(refused))
    if member_id != session.principal.member_id:
        return _refused(403, "That ceremony was another member's")
    return JSONResponse({"go": "/account?flash=added"})


@router.post("/account/passkeys/remove")
def remove(request: Request, engine: EngineDep, form: FormDep) -> Response:
    session = _session(request, engine)
    if session is None:
        return RedirectResponse("/sign-in?next=/account", status_code=303)
    now = datetime.now(UTC)
    if not csrf_ok(form, session.csrf) or not session.recently_authenticated(now):
        return refusal_page(request, "That form could not be used: go back, confirm it's you and try again.")
    kept = member_passkeys(engine, session.principal.member_id)
    index = form.get("passkey", "")
    if not index.isdigit() or not 1 <= int(index) <= len(kept) or len(kept) < 2:
        return refusal_page(request, "That passkey could not be removed: you need at least one.", 422)
    # The form names the passkey by its place in the member's own list: no credential id leaves
    # the server, and a member can only ever remove their own.
    remove_passkey(engine, session.principal.member_id, kept[int(index) - 1].credential_id, now,
                   actor=session.principal.member_id)
    return RedirectResponse("/account?flash=removed", status_code=303)


@router.post("/sign-out")
def sign_out(request: Request, engine: EngineDep, form: FormDep) -> Response:
    member = signed_in_member(request, engine)
    if member is not None and csrf_ok(form, member[1]):
        sessions.end(engine, request.cookies.get(sessions.COOKIE), datetime.now(UTC))
    return _signed_out(request)


@router.post("/sign-out-everywhere")
def sign_out_everywhere(request: Request, engine: EngineDep, form: FormDep) -> Response:
    """Every session of the member ends, in every browser (a phone left somewhere, a shared
    computer not signed out of)."""
    member = signed_in_member(request, engine)
    if member is not None and csrf_ok(form, member[1]):
        principal = member[0]
        sessions.end_member_sessions(engine, principal.member_id, principal.organisation, datetime.now(UTC),
                                     actor=principal.member_id, action="session.signed_out_everywhere")
    return _signed_out(request)


def _signed_out(request: Request) -> Response:
    answer = RedirectResponse("/sign-in", status_code=303)
    answer.delete_cookie(sessions.COOKIE, path="/", secure=secure_cookies(request), httponly=True)
    # What the browser kept of the pages goes too. Not "storage": the phone's outbox of contacts
    # not yet sent lives there, and is sent after the next sign-in.
    answer.headers["clear-site-data"] = '"cache", "cookies"'
    return answer
