"""Signing in with a key and signing out."""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import UTC, datetime

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import sessions
from api.deps import EngineDep, SettingsDep
from api.public import Allowance
from api.routes.members.common import SERVICE, FormDep, csrf_ok, router, signed_in_member
from api.routes.pages import page, secure_cookies
from api.sessions import SessionRules
from readmodel.keys import Role, authenticate, failed_sign_in

SIGN_IN_CSRF = "journeys_sign_in_csrf"


# Where a member goes after signing in when no page asked for it: their kind of organisation's page.
HOMES = {Role.OUTREACH: "/outreach", Role.FRONTLINE: "/eyes-and-ears", Role.POLICE: "/eyes-and-ears",
         Role.HEALTH: "/people"}


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never //elsewhere): sign-in must not send anyone away. Empty:
    the member's home, chosen once they are known."""
    return target if target and target.startswith("/") and not target.startswith("//") else ""


def _sign_in_page(request: Request, code: int, next_page: str, found: dict[str, str]) -> HTMLResponse:
    csrf = request.cookies.get(SIGN_IN_CSRF) or secrets.token_urlsafe(32)
    answer = page(request, "sign_in.html", code, title="Sign in", service=SERVICE, home="/sign-in", csrf=csrf,
                  next=next_page, errors=found)
    answer.set_cookie(SIGN_IN_CSRF, csrf, httponly=True, samesite="strict", secure=secure_cookies(request),
                      path="/sign-in")
    return answer


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query's name
    return _sign_in_page(request, 200, _safe_next(next), {})


@router.post("/sign-in")
def sign_in(request: Request, engine: EngineDep, settings: SettingsDep, form: FormDep) -> Response:
    next_page = _safe_next(form.get("next"))
    if not hmac.compare_digest(request.cookies.get(SIGN_IN_CSRF, ""), form.get("csrf", "-")):
        return _sign_in_page(request, 400, next_page, {"key": "Your session ran out: sign in again"})
    allowance: Allowance = request.app.state.sign_in_allowance
    address = request.client.host if request.client else "unknown"
    wait = allowance.minutes_to_wait(address, time.time())
    if wait:
        # Too many failures from here: even the right key waits, so guessing gains nothing.
        answer = _sign_in_page(request, 429, next_page, {
            "key": f"Too many sign-ins failed from here: try again in {wait} minute{'s' if wait > 1 else ''}"})
        answer.headers["retry-after"] = str(wait * 60)
        return answer
    now = datetime.now(UTC)
    given = form.get("key", "").strip()
    principal = authenticate(engine, given, now)
    if principal is None:
        allowance.count(address)
        failed_sign_in(engine, given, now)
        return _sign_in_page(request, 422, next_page, {
            "key": "That key is not known, has expired or was revoked: ask your organisation for a new one"})
    token, lifetime = sessions.begin(engine, principal, now, SessionRules.configured(settings),
                                     shared=form.get("shared") == "yes")
    answer = RedirectResponse(next_page or HOMES.get(principal.role, "/beds"), status_code=303)
    answer.set_cookie(sessions.COOKIE, token, httponly=True, samesite="lax", secure=secure_cookies(request),
                      max_age=int(lifetime.total_seconds()), path="/")
    return answer


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
