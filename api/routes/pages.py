"""Pages for people, server-rendered in the GOV.UK Design System's style: the public's report
form and its status page. (The board, the outreach worker's phone and providers' beds are not
built yet: see the README's known gaps.)"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.claims import IdempotencyConflict
from api.deps import EngineDep, ProducerDep, SettingsDep
from api.intake import submit_from_thread
from api.producer import NotAccepted
from api.public import Allowance, PublicReport, local, progress, web_reporter
from api.reports import find_report
from schemas.settings import Settings

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
SERVICE = "Report someone sleeping rough"
CSRF_COOKIE = "journeys_csrf"


def page(request: Request, template: str, code: int = 200, *, form_targets: tuple[str, ...] = (),
         **context: Any) -> HTMLResponse:
    """A page with a content security policy: scripts only from here, or inline with this page's
    nonce; its forms post here, or (`form_targets`) are sent on to those origins: an identity
    provider's sign-in, for the sign-in page."""
    nonce = secrets.token_urlsafe(16)
    answer = templates.TemplateResponse(request, template, {"service": SERVICE, "nonce": nonce, "errors": {},
                                                           "home": "/report", **context}, status_code=code)
    form_action = " ".join(("'self'", *form_targets))
    answer.headers["content-security-policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; "
        f"object-src 'none'; base-uri 'none'; form-action {form_action}; "
        "frame-ancestors 'none'")
    answer.headers["referrer-policy"] = "no-referrer"
    answer.headers["x-content-type-options"] = "nosniff"
    return answer


def giving(settings: Settings) -> dict[str, str] | None:
    """The local accredited giving scheme to point the public to, if one is set."""
    if not settings.giving_scheme_url:
        return None
    return {"name": settings.giving_scheme_name or "the local giving scheme", "url": settings.giving_scheme_url,
            "why": settings.giving_scheme_why}


def _areas(settings: SettingsDep) -> list[str]:
    return sorted(code for code in settings.outreach_teams if code != "*")


def _form(request: Request, settings: SettingsDep, code: int, form: dict[str, Any], found: dict[str, str],
          csrf: str | None = None, notice: str | None = None) -> HTMLResponse:
    csrf = csrf or request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    answer = page(request, "report.html", code, title="Tell us about someone sleeping rough", form=form,
                  errors=found, notice=notice, areas=_areas(settings), csrf=csrf, giving=giving(settings))
    # Double-submit: the form's hidden token must match this cookie, which another site's page
    # cannot read or set, so it cannot post the form in a visitor's name.
    answer.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=secure_cookies(request),
                      path="/report")
    return answer


def secure_cookies(request: Request) -> bool:
    """Cookies carry the Secure flag unless the development setting says otherwise (COOKIES_SECURE)."""
    return request.app.state.settings.cookies_secure or request.url.scheme == "https"


@router.get("/report", response_class=HTMLResponse)
def report_form(request: Request, settings: SettingsDep) -> HTMLResponse:
    now = datetime.now(settings.zone)
    return _form(request, settings, 200, {"occurred_at": f"{now:%Y-%m-%dT%H:%M}"}, {})


async def _fields(request: Request) -> dict[str, str]:
    """The form's text fields, read on the event loop; the route runs in a thread."""
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


@router.post("/report", response_class=HTMLResponse)
def send_report(request: Request, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
                fields: Annotated[dict[str, str], Depends(_fields)]) -> HTMLResponse:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, fields.get("csrf", "")):
        return _form(request, settings, 400, fields, {"occurred_at": "Your session ran out: send the form again"},
                     csrf=secrets.token_urlsafe(32))
    when = None
    try:
        if fields.get("occurred_at"):
            when = datetime.fromisoformat(fields["occurred_at"]).replace(tzinfo=settings.zone)
    except ValueError:
        pass
    report = PublicReport(
        occurred_at=when, area_code=fields.get("area_code"), place=fields.get("place"),
        latitude=fields.get("latitude"), longitude=fields.get("longitude"), description=fields.get("description"),
        over_18=fields.get("over_18"), emergency=fields.get("emergency") == "yes", name=fields.get("name"),
        email=fields.get("email"), phone=fields.get("phone"), wants_update=fields.get("wants_update") == "yes")
    submission, found = report.checked()
    if submission is None:
        return _form(request, settings, 422, fields, found)
    allowance: Allowance = request.app.state.public_allowance
    address = request.client.host if request.client else ""
    wait = allowance.minutes_to_wait(address, time.time())
    if wait:
        answer = _form(request, settings, 429, fields, {}, notice=(
            f"This connection has sent {allowance.limit.amount} reports in the last hour, so this one was not "
            f"sent: try again in {wait} minute{'s' if wait > 1 else ''}. If someone is in danger, call 999."))
        answer.headers["retry-after"] = str(wait * 60)
        return answer
    # The same form sent twice (a refresh, a double click) is one report.
    sent = json.dumps({k: v for k, v in sorted(fields.items()) if k != "csrf"})
    key = "web-" + hashlib.sha256(f"{cookie}|{sent}".encode()).hexdigest()[:40]
    try:
        accepted = submit_from_thread(submission, idempotency_key=key,
                                      principal=web_reporter(engine, datetime.now(UTC)), engine=engine,
                                      producer=producer, settings=settings, now=datetime.now(UTC))
    except (IdempotencyConflict, NotAccepted):
        return _form(request, settings, 503, fields,
                     {"occurred_at": "Sorry, the report could not be sent just now: try again in a minute"})
    if not accepted.duplicate:
        allowance.count(address)
    return page(request, "report_sent.html", title="Report sent", reference=str(accepted.event_id),
                giving=giving(settings))


@router.get("/report/{reference}", response_class=HTMLResponse)
def report_progress(reference: UUID, request: Request, engine: EngineDep, settings: SettingsDep) -> HTMLResponse:
    row = find_report(engine, reference)
    if row is None:
        return page(request, "report_status.html", 404, title="Your report", reference=str(reference), status=None)
    said = progress(row)
    return page(request, "report_status.html", title="Your report", reference=str(reference), status={
        "label": said.label, "colour": said.colour, "said": said.said,
        "received": local(row.received_at, settings.zone), "area": row.area_code})
