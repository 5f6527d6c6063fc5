"""The outreach worker's phone: the team's open reports, people seen lately, a contact (sent from
the phone's outbox), a report's steps, a bed asked for."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from fastapi import Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import Engine

from api import beds
from api.claims import IdempotencyConflict
from api.deps import EngineDep, ProducerDep, SettingsDep
from api.intake import submit_from_thread
from api.producer import NotAccepted
from api.reports import find_report, open_reports
from api.routes.members.common import (
    SERVICE,
    BodyDep,
    FormDep,
    form_member,
    page_member,
    refusal_page,
    router,
    searched,
    signed_in_member,
)
from api.routes.members.people import person_page_for
from api.routes.pages import page
from journey import policy
from journey.matching import Search
from journey.nights import night_starts
from journey.reports import OUTCOME_WORDS, Routing
from readmodel.keys import Principal, Role
from readmodel.sharing import search_people, seen_lately
from schemas.beds import BedRequestSubmission
from schemas.events import ReportOutcome, ReportProgress
from schemas.settings import Settings
from schemas.submissions import ContactSubmission, ReportProgressSubmission

OUTREACH_PAGES = frozenset({Role.OUTREACH})


SEEN_LATELY_NIGHTS = 7  # tonight and the six nights before: a week of walks


SEEN_LATELY_SHOWN = 25  # a phone's screenful or two; search finds the rest


SERVICE_WORKER = Path(__file__).resolve().parents[2] / "static" / "outreach-sw.js"


@router.get("/outreach", response_class=HTMLResponse)
def outreach_page(request: Request, engine: EngineDep, settings: SettingsDep, done: str | None = None) -> Response:
    """The outreach worker's phone: the team's open reports, the people seen lately in the team's
    areas, and finding someone."""
    return _outreach(request, engine, settings, Search(), OUTREACH_DONE.get(done or ""))


@router.post("/outreach", response_class=HTMLResponse)
def outreach_search(request: Request, engine: EngineDep, settings: SettingsDep, form: FormDep) -> Response:
    """The same page with what a search found: the terms come in the form's body, never the URL."""
    search = searched(request, engine, form)
    if isinstance(search, Response):
        return search
    return _outreach(request, engine, settings, search, None)


def _outreach(request: Request, engine: Engine, settings: Settings, search: Search, flash: str | None) -> Response:
    member = page_member(request, engine, OUTREACH_PAGES, "These pages are for outreach teams.")
    if isinstance(member, Response):
        return member
    principal, csrf = member
    now = datetime.now(UTC)
    reports = [{"report_id": str(r.report_id), "area_code": r.area_code, "overdue": r.overdue,
                "due": f"{r.due_by:%H:%M %-d %b}" if r.due_by else "",
                "attempted": f"{r.first_attempt_at:%H:%M %-d %b}" if r.first_attempt_at else ""}
               for r in open_reports(engine, team=principal.organisation, now=now)]
    searched = bool(search.terms())
    found = search_people(engine, principal, search, now, "POST /outreach") if searched else []
    since = night_starts(beds.tonight(now, settings) - timedelta(days=SEEN_LATELY_NIGHTS - 1), settings.zone)
    lately = [{**p, "when": f"{p['seen_at'].astimezone(settings.zone):%H:%M %-d %b}"}
              for p in seen_lately(engine, principal, Routing.configured(settings), since, now,
                                   limit=SEEN_LATELY_SHOWN)]
    return page(request, "outreach.html", title="Outreach", service=SERVICE, home="/outreach", csrf=csrf,
                organisation=principal.organisation, reports=reports, search=search, searched=searched, found=found,
                lately=lately, lately_nights=SEEN_LATELY_NIGHTS,
                outcomes=[(o.value, OUTCOME_WORDS[o.value]) for o in ReportOutcome], flash=flash)


@router.get("/outreach/people/{person_id}", response_class=HTMLResponse)
def outreach_person(person_id: UUID, request: Request, engine: EngineDep, settings: SettingsDep,
                    done: str | None = None) -> Response:
    """A person's journey as the policy lets this outreach member see it, with the forms to record
    a contact and ask for a bed (the read is audited)."""
    member = page_member(request, engine, OUTREACH_PAGES, "These pages are for outreach teams.")
    if isinstance(member, Response):
        return member
    return person_page_for(request, engine, settings, member, person_id, "/outreach", OUTREACH_DONE.get(done or ""))


@router.post("/outreach/contacts")
def outreach_contact(request: Request, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
                     body: BodyDep) -> Response:
    """A contact sent from the phone (now, or later from its outbox): its own event id makes a
    repeat of it nothing new."""
    member = signed_in_member(request, engine)
    if member is None:
        return JSONResponse({"detail": "sign in again"}, status_code=401)
    principal, csrf = member
    if principal.role not in OUTREACH_PAGES or not hmac.compare_digest(request.headers.get("x-csrf-token", ""), csrf):
        return JSONResponse({"detail": "not allowed"}, status_code=403)
    try:
        submission = ContactSubmission.model_validate_json(body)
    except ValidationError as error:
        return JSONResponse({"detail": "invalid contact", "errors": [
            {"loc": list(e["loc"]), "msg": e["msg"]} for e in error.errors()]}, status_code=422)
    try:
        accepted = submit_from_thread(submission, idempotency_key=None, principal=principal, engine=engine,
                                      producer=producer, settings=settings, now=datetime.now(UTC))
    except IdempotencyConflict as conflict:
        return JSONResponse({"detail": str(conflict)}, status_code=409)
    except NotAccepted:
        return JSONResponse({"detail": "not recorded; try again"}, status_code=503)
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202)


@router.get("/outreach/sw.js")
def outreach_service_worker() -> Response:
    # Served from /outreach so that it may look after every outreach page.
    # Its path allows it /outreach/ only; the header lets it look after /outreach itself too
    # (without it the browser refused to register it at all).
    return FileResponse(SERVICE_WORKER, media_type="text/javascript",
                        headers={"cache-control": "no-cache", "service-worker-allowed": "/outreach"})


OUTREACH_DONE = {"attempted": "Recorded: the team went to look.", "outcome": "Recorded: the report's outcome.",
                 "bed": "Asked for a bed tonight: the provider's decision shows on the beds page and the timeline."}


def _outreach_form(request: Request, engine: EngineDep, form: dict[str, str]) -> Principal | Response:
    """The signed-in outreach member who sent the form (its CSRF token checked)."""
    return form_member(request, engine, form, OUTREACH_PAGES, "/outreach")


@router.post("/outreach/reports/{report_id}/steps")
def outreach_report_step(report_id: UUID, request: Request, engine: EngineDep, producer: ProducerDep,
                         settings: SettingsDep, form: FormDep) -> Response:
    """The team went to look for a reported person, or found the report's outcome."""
    principal = _outreach_form(request, engine, form)
    if isinstance(principal, Response):
        return principal
    report = find_report(engine, report_id)
    what = form.get("what")
    outcome = form.get("outcome") if what == "outcome" else None
    if report is None or not policy.may_work_report(principal.viewer, report.team):
        return refusal_page(request, "That report is not one routed to your team.", 404)
    if what not in ("attempted", "outcome") or (what == "outcome" and outcome not in OUTCOME_WORDS):
        return refusal_page(request, "Choose what happened to a report of yours.", 422)
    submission = ReportProgressSubmission(
        person_id=UUID(report.person_id), occurred_at=datetime.now(UTC).isoformat(), what=what,
        details=ReportProgress(report_id=report_id, team=principal.organisation,
                               outcome=ReportOutcome(outcome) if outcome else None))
    try:
        submit_from_thread(submission, idempotency_key=None, principal=principal, engine=engine, producer=producer,
                           settings=settings, now=datetime.now(UTC))
    except (IdempotencyConflict, NotAccepted):
        return refusal_page(request, "That could not be recorded just now: try again in a minute.", 503)
    return RedirectResponse(f"/outreach?done={what}", status_code=303)


@router.post("/outreach/people/{person_id}/bed")
def outreach_bed(person_id: UUID, request: Request, engine: EngineDep, producer: ProducerDep,
                 settings: SettingsDep, form: FormDep) -> Response:
    """Ask a provider for a bed tonight for this person."""
    principal = _outreach_form(request, engine, form)
    if isinstance(principal, Response):
        return principal
    try:
        wanted = BedRequestSubmission.model_validate({"person_id": str(person_id),
                                                      "provider_id": form.get("provider_id", "")})
        beds.request_bed(wanted, caller=beds.Caller(principal=principal, now=datetime.now(UTC)), engine=engine,
                         producer=producer, settings=settings)
    except ValidationError:
        return refusal_page(request, "Choose a provider.", 422)
    except beds.BedsError as error:
        return refusal_page(request, str(error), error.status)
    except NotAccepted:
        return refusal_page(request, "The request could not be sent just now: try again in a minute.", 503)
    return RedirectResponse(f"/outreach/people/{person_id}?done=bed", status_code=303)
