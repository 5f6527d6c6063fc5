"""Pages for members of partner organisations: sign-in and sign-out, the providers' bed page
(tonight's requests for the provider's beds, with check-in, no-show and check-out), and the
board (the town centre's live picture, counts only)."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import Engine
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from api import beds, board, sessions
from api.deps import EngineDep, ProducerDep, SettingsDep
from api.intake import IdempotencyConflict, submit
from api.producer import NotAccepted
from api.reports import find_report, open_reports
from api.routes.pages import page, secure_cookies, templates
from api.routes.stream import broadcaster
from journey import policy
from journey.matching import Search
from journey.nights import night_starts
from journey.policy import MAY_READ_PEOPLE, most_seen, safe_statistics
from journey.reports import OUTCOME_WORDS, Routing
from readmodel.keys import Principal, Role, authenticate
from readmodel.referrals import ReferralRefused, answer_submission, referrals_of
from readmodel.sharing import disclosed_journey, disclosed_referrals, search_people, seen_lately
from schemas.beds import BedRequestSubmission
from schemas.events import DeclineReason, ReportOutcome, ReportProgress
from schemas.settings import Settings
from schemas.submissions import ContactSubmission, ReportProgressSubmission

router = APIRouter(include_in_schema=False)
SERVICE = "Journeys"
SIGN_IN_CSRF = "journeys_sign_in_csrf"
PROVIDERS = frozenset({Role.COUNCIL, Role.CHARITY, Role.HOUSING_PROVIDER})
ACTIONS = {"check-in": ("bed.check_in", "Check in"), "no-show": ("bed.no_show", "No-show"),
           "check-out": ("bed.check_out", "Check out")}
OFFERED = {"allocated": ("check-in", "no-show"), "checked_in": ("check-out",)}
DONE = {"check-in": "Checked in.", "no-show": "Recorded as a no-show: the bed goes to the first waiting.",
        "check-out": "Checked out: the bed is free again."}


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never //elsewhere): sign-in must not send anyone away."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/beds"


async def _form(request: Request) -> dict[str, str]:
    """A form's text fields, read on the event loop; the route itself is a plain function that
    FastAPI runs in a thread, so its database and Kafka calls never hold the loop up."""
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


async def _body(request: Request) -> bytes:
    return await request.body()


FormDep = Annotated[dict[str, str], Depends(_form)]
BodyDep = Annotated[bytes, Depends(_body)]


def _csrf_ok(form: dict[str, str], csrf: str) -> bool:
    return hmac.compare_digest(form.get("csrf", ""), csrf)


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
def sign_in(request: Request, engine: EngineDep, form: FormDep) -> Response:
    next_page = _safe_next(form.get("next"))
    if not hmac.compare_digest(request.cookies.get(SIGN_IN_CSRF, ""), form.get("csrf", "-")):
        return _sign_in_page(request, 400, next_page, {"key": "Your session ran out: sign in again"})
    now = datetime.now(UTC)
    principal = authenticate(engine, form.get("key", "").strip(), now)
    if principal is None:
        return _sign_in_page(request, 422, next_page, {
            "key": "That key is not known, has expired or was revoked: ask your organisation for a new one"})
    token = sessions.begin(engine, principal, now)
    answer = RedirectResponse(next_page, status_code=303)
    answer.set_cookie(sessions.COOKIE, token, httponly=True, samesite="lax", secure=secure_cookies(request),
                      max_age=int(sessions.LIFETIME.total_seconds()), path="/")
    return answer


def _member(request: Request, engine: EngineDep) -> tuple[Principal, str] | None:
    return sessions.current(engine, request.cookies.get(sessions.COOKIE), datetime.now(UTC))


def _page_member(request: Request, engine: EngineDep, roles: frozenset[Role],
                 refusal: str) -> tuple[Principal, str] | Response:
    """The signed-in member a page is for, with their session's CSRF token: sent to sign in (and
    back to this page) if nobody is signed in, refused if their kind of organisation is not
    among `roles`."""
    member = _member(request, engine)
    if member is None:
        return RedirectResponse(f"/sign-in?next={request.url.path}", status_code=303)
    if member[0].role not in roles:
        return _refused(request, refusal)
    return member


def _searched(request: Request, engine: Engine, form: dict[str, str]) -> Search | Response:
    """A search from a page's form (its CSRF token checked), each part cut to a sane length; the
    terms a member's organisation may never search by (journey/matching.SEARCHED_IN) are dropped."""
    member = _member(request, engine)
    if member is None:
        return RedirectResponse(f"/sign-in?next={request.url.path}", status_code=303)
    principal, csrf = member
    if not _csrf_ok(form, csrf):
        return _refused(request, "That form could not be used: go back and try again.")

    def term(key: str, longest: int) -> str | None:
        return form.get(key, "").strip()[:longest] or None

    search = Search(name=term("name", 120), description=term("description", 200), area=term("area", 32))
    allowed = most_seen(principal.role)
    kept = {t: getattr(search, t) for t, category in search.terms().items() if category in allowed}
    return Search(**kept)


@router.post("/sign-out")
def sign_out(request: Request, engine: EngineDep, form: FormDep) -> Response:
    member = _member(request, engine)
    if member is not None and _csrf_ok(form, member[1]):
        sessions.end(engine, request.cookies.get(sessions.COOKIE), datetime.now(UTC))
    answer = RedirectResponse("/sign-in", status_code=303)
    answer.delete_cookie(sessions.COOKIE, path="/", secure=secure_cookies(request), httponly=True)
    # What the browser kept of the pages goes too. Not "storage": the phone's outbox of contacts
    # not yet sent lives there, and is sent after the next sign-in.
    answer.headers["clear-site-data"] = '"cache", "cookies"'
    return answer


REFUSED_TITLES = {403: "Not for you", 404: "Not found", 409: "That could not be done",
                  422: "That could not be done", 503: "Try again in a minute"}


def _refused(request: Request, said: str, status: int = 403) -> HTMLResponse:
    """A member's page or form that could not be served: what went wrong and the way back."""
    section = "/" + request.url.path.split("/")[1]
    home = section if section in ("/outreach", "/people", "/board", "/referrals") else "/beds"
    return page(request, "refused.html", status, title=REFUSED_TITLES[status], service=SERVICE, home=home, said=said)


@router.get("/beds", response_class=HTMLResponse)
def beds_page(request: Request, engine: EngineDep, settings: SettingsDep, done: str | None = None) -> Response:
    member = _page_member(request, engine, PROVIDERS,
                          "Only members of organisations that run beds (or the council) use this page.")
    if isinstance(member, Response):
        return member
    principal, csrf = member
    caller = beds.Caller(principal=principal, now=datetime.now(UTC))
    night = beds.tonight(caller.now, settings)
    shown: list[dict[str, Any]] = []
    for provider in beds.list_providers(engine):
        if not caller.runs(provider):
            continue
        requests = [{**r.model_dump(mode="json"), "short": str(r.request_id)[:8],
                     "actions": [(a, ACTIONS[a][1]) for a in OFFERED.get(r.status, ())]}
                    for r in beds.list_requests(engine, provider.provider_id, night, caller)]
        shown.append({"name": provider.name, "requests": requests})
    return page(request, "beds.html", title="Tonight's beds", service=SERVICE, home="/beds", csrf=csrf,
                night=f"{night:%-d %B %Y}", providers=shown, organisation=principal.organisation,
                flash=DONE.get(done or ""))


@router.post("/beds/requests/{request_id}/{action}")
def bed_action(request_id: UUID, action: str, request: Request, engine: EngineDep, producer: ProducerDep,
               settings: SettingsDep, form: FormDep) -> Response:
    member = _member(request, engine)
    if member is None:
        return RedirectResponse("/sign-in?next=/beds", status_code=303)
    principal, csrf = member
    if action not in ACTIONS or not _csrf_ok(form, csrf):
        return _refused(request, "That form could not be used: go back to the beds page and try again.")
    try:
        beds.record_stay(request_id, ACTIONS[action][0], caller=beds.Caller(principal=principal, now=datetime.now(UTC)),
                         engine=engine, producer=producer, settings=settings)
    except beds.BedsError as error:
        return _refused(request, str(error), error.status)
    except NotAccepted:
        return _refused(request, "The change could not be recorded just now: try again in a minute.", 503)
    return RedirectResponse(f"/beds?done={action}", status_code=303)


BOARD = frozenset(MAY_READ_PEOPLE)
PEOPLE_PAGES = frozenset(MAY_READ_PEOPLE)


def _board_figures(request: Request, engine: EngineDep, settings: SettingsDep, principal: Principal) -> dict[str, Any]:
    now = datetime.now(UTC)
    state = request.app.state
    if getattr(state, "board_flow", None) is None:
        state.board_flow = board.FlowKeeper()
    flow = state.board_flow.latest(engine, settings, now)
    if flow is not None:
        flow = dict(safe_statistics(flow, principal.role))  # a copy: the keeper's figures stay as they are
        flow["chart"] = board.chart_bars(flow["weeks"])
    return {"f": board.figures(engine, settings, now, principal.role), "flow": flow,
            "updated": f"{now.astimezone(settings.zone):%H:%M:%S}"}


@router.get("/board", response_class=HTMLResponse)
def board_page(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    """The live picture: no personal data; it updates itself as events arrive (/board/live)."""
    member = _page_member(request, engine, BOARD, "The board is for partner organisations that work with people.")
    if isinstance(member, Response):
        return member
    principal, _csrf = member
    return page(request, "board.html", title="Town centre tonight", service=SERVICE, home="/board", wide=True,
                **_board_figures(request, engine, settings, principal))


@router.get("/board/figures", response_class=HTMLResponse)
def board_figures(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    member = _member(request, engine)
    if member is None or member[0].role not in BOARD:
        return Response(status_code=403)
    return templates.TemplateResponse(request, "board_figures.html",
                                      _board_figures(request, engine, settings, member[0]))


@router.get("/board/live")
async def board_live(request: Request, engine: EngineDep) -> Response:
    """A "changed" event (no data) whenever journeys change, at most five times a second: the page
    then fetches its figures again. Nothing of any person goes down this stream."""
    member = await run_in_threadpool(_member, request, engine)
    if member is None or member[0].role not in BOARD:
        return Response(status_code=403)
    fanout = await asyncio.wait_for(broadcaster(request).started(), 10)
    client = fanout.join(None)

    async def changes() -> AsyncIterator[ServerSentEvent]:
        try:
            while not client.dropped.is_set():
                await client.queue.get()
                await asyncio.sleep(0.2)  # let a burst of updates make one refresh
                while not client.queue.empty():
                    client.queue.get_nowait()
                yield ServerSentEvent(event="changed", data="{}")
        finally:
            fanout.leave(client)

    return EventSourceResponse(changes(), ping=15)


OUTREACH_PAGES = frozenset({Role.OUTREACH})
SEEN_LATELY_NIGHTS = 7  # tonight and the six nights before: a week of walks
SEEN_LATELY_SHOWN = 25  # a phone's screenful or two; search finds the rest
SERVICE_WORKER = Path(__file__).resolve().parent.parent / "static" / "outreach-sw.js"


@router.get("/outreach", response_class=HTMLResponse)
def outreach_page(request: Request, engine: EngineDep, settings: SettingsDep, done: str | None = None) -> Response:
    """The outreach worker's phone: the team's open reports, the people seen lately in the team's
    areas, and finding someone."""
    return _outreach(request, engine, settings, Search(), OUTREACH_DONE.get(done or ""))


@router.post("/outreach", response_class=HTMLResponse)
def outreach_search(request: Request, engine: EngineDep, settings: SettingsDep, form: FormDep) -> Response:
    """The same page with what a search found: the terms come in the form's body, never the URL."""
    search = _searched(request, engine, form)
    if isinstance(search, Response):
        return search
    return _outreach(request, engine, settings, search, None)


def _outreach(request: Request, engine: Engine, settings: Settings, search: Search, flash: str | None) -> Response:
    member = _page_member(request, engine, OUTREACH_PAGES, "These pages are for outreach teams.")
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
    member = _page_member(request, engine, OUTREACH_PAGES, "These pages are for outreach teams.")
    if isinstance(member, Response):
        return member
    return _person_page(request, engine, settings, member, person_id, "/outreach", OUTREACH_DONE.get(done or ""))


@router.get("/people", response_class=HTMLResponse)
def people_page(request: Request, engine: EngineDep) -> Response:
    """Finding a person, for members of every organisation that may see people: each found
    person is shown only as far as the policy lets this member see them (and the read audited)."""
    return _people(request, engine, Search())


@router.post("/people", response_class=HTMLResponse)
def people_search(request: Request, engine: EngineDep, form: FormDep) -> Response:
    """The same page with what a search found (terms in the body, never the URL)."""
    search = _searched(request, engine, form)
    if isinstance(search, Response):
        return search
    return _people(request, engine, search)


def _people(request: Request, engine: Engine, search: Search) -> Response:
    member = _page_member(request, engine, PEOPLE_PAGES, "Your organisation does not see people's journeys.")
    if isinstance(member, Response):
        return member
    principal, csrf = member
    searched = bool(search.terms())
    found = search_people(engine, principal, search, datetime.now(UTC), "POST /people") if searched else []
    return page(request, "people.html", title="People", service=SERVICE, home="/people", csrf=csrf,
                organisation=principal.organisation, search=search, searched=searched, found=found)


@router.get("/people/{person_id}", response_class=HTMLResponse)
def person_page(person_id: UUID, request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    """A person's journey as the policy lets this member see it (the read is audited)."""
    member = _page_member(request, engine, PEOPLE_PAGES, "Your organisation does not see people's journeys.")
    if isinstance(member, Response):
        return member
    return _person_page(request, engine, settings, member, person_id, "/people", None)


def _person_page(request: Request, engine: EngineDep, settings: SettingsDep, member: tuple[Principal, str],
                 person_id: UUID, home: str, flash: str | None) -> Response:
    principal, csrf = member
    outreach = home == "/outreach"
    shown = disclosed_journey(engine, principal, person_id, settings, datetime.now(UTC),
                              "GET /outreach/people" if outreach else "GET /people")
    if shown is None:
        return _refused(request, "Nobody you may see has this id.", 404)
    timeline = shown.get("timeline", [])
    names = sorted({e["personal"].get("known_as") for e in timeline if (e.get("personal") or {}).get("known_as")})
    labels = (("stage", "Stage"), ("status", "Status"), ("last_area", "Last seen in"),
              ("key_worker_organisation", "Key worker's organisation"), ("next_step", "Next step"),
              ("strengths", "Strengths"), ("goals", "Goals"))
    summary = [(label, ", ".join(shown[key]) if isinstance(shown[key], list) else shown[key])
               for key, label in labels if shown.get(key)]
    entries = [{"when": f"{datetime.fromisoformat(str(e['occurred_at'])).astimezone(settings.zone):%-d %b %H:%M}",
                "summary": e["summary"]} for e in reversed(timeline)]
    providers = []
    if outreach:
        night = beds.tonight(datetime.now(UTC), settings)
        providers = [(p.provider_id, f"{p.name} ({p.free} free)") for p in beds.availability(engine, night).providers]
    return page(request, "outreach_person.html", title="Person", service=SERVICE, home=home, csrf=csrf,
                name=", ".join(names) or "Name not known", person_id=str(person_id), summary=summary,
                timeline=entries, organisation=principal.organisation, last_area=shown.get("last_area"),
                outreach=outreach, providers=providers, flash=flash)


@router.post("/outreach/contacts")
def outreach_contact(request: Request, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
                     body: BodyDep) -> Response:
    """A contact sent from the phone (now, or later from its outbox): its own event id makes a
    repeat of it nothing new."""
    member = _member(request, engine)
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
        accepted = submit(submission, idempotency_key=None, principal=principal, engine=engine, producer=producer,
                          settings=settings, now=datetime.now(UTC))
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
    member = _member(request, engine)
    if member is None:
        return RedirectResponse("/sign-in?next=/outreach", status_code=303)
    principal, csrf = member
    if principal.role not in OUTREACH_PAGES or not _csrf_ok(form, csrf):
        return _refused(request, "That form could not be used: go back and try again.")
    return principal


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
        return _refused(request, "That report is not one routed to your team.", 404)
    if what not in ("attempted", "outcome") or (what == "outcome" and outcome not in OUTCOME_WORDS):
        return _refused(request, "Choose what happened to a report of yours.", 422)
    submission = ReportProgressSubmission(
        person_id=UUID(report.person_id), occurred_at=datetime.now(UTC).isoformat(), what=what,
        details=ReportProgress(report_id=report_id, team=principal.organisation,
                               outcome=ReportOutcome(outcome) if outcome else None))
    try:
        submit(submission, idempotency_key=None, principal=principal, engine=engine, producer=producer,
               settings=settings, now=datetime.now(UTC))
    except (IdempotencyConflict, NotAccepted):
        return _refused(request, "That could not be recorded just now: try again in a minute.", 503)
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
        return _refused(request, "Choose a provider.", 422)
    except beds.BedsError as error:
        return _refused(request, str(error), error.status)
    except NotAccepted:
        return _refused(request, "The request could not be sent just now: try again in a minute.", 503)
    return RedirectResponse(f"/outreach/people/{person_id}?done=bed", status_code=303)


# ---------------------------------------------------------------- referrals

TAKERS = frozenset(policy.MAY_TAKE_ON)
DECLINE_WORDS = {"no_capacity": "No space", "not_eligible": "Not eligible for our service",
                 "person_declined": "The person said no", "already_supported": "Already supported elsewhere",
                 "other": "Another reason"}
ANSWERED = {"accept": ("accepted", "Accepted: you now work with the person."),
            "decline": ("declined", "Declined: the referrer sees why.")}


@router.get("/referrals", response_class=HTMLResponse)
def referrals_page(request: Request, engine: EngineDep, settings: SettingsDep, done: str | None = None) -> Response:
    """The organisation's inbox of referrals, with accept and decline, and the status of the ones it
    made (each shown one audited)."""
    member = _page_member(request, engine, TAKERS, "Referrals are for organisations that can take a person on.")
    if isinstance(member, Response):
        return member
    principal, csrf = member
    now = datetime.now(UTC)
    shown = disclosed_referrals(engine, principal, referrals_of(engine, principal.organisation, "received"), now,
                                "GET /referrals")
    sent = disclosed_referrals(engine, principal, referrals_of(engine, principal.organisation, "sent"), now,
                               "GET /referrals")
    zone = settings.zone

    def row(r: Any) -> dict[str, Any]:
        return {**r.model_dump(mode="json"), "made": f"{r.made_at.astimezone(zone):%-d %B %Y %H:%M}",
                "expires": f"{r.expires_at.astimezone(zone):%-d %B %Y %H:%M}" if r.expires_at else None,
                "agreed": ", ".join(c.value.replace("_", " ") for c in r.categories) or "nothing beyond the referral",
                "decline_words": DECLINE_WORDS.get(r.decline_reason or "", "")}

    return page(request, "referrals.html", title="Referrals", service=SERVICE, home="/referrals", csrf=csrf,
                referrals=[row(r) for r in shown], sent=[row(r) for r in sent], organisation=principal.organisation,
                reasons=list(DECLINE_WORDS.items()), flash=ANSWERED[done][1] if done in ANSWERED else None)


@router.post("/referrals/{referral_id}/{action}")
def referral_answer(referral_id: UUID, action: str, request: Request, engine: EngineDep,
                    producer: ProducerDep, settings: SettingsDep, form: FormDep) -> Response:
    member = _member(request, engine)
    if member is None:
        return RedirectResponse("/sign-in?next=/referrals", status_code=303)
    principal, csrf = member
    if action not in ANSWERED or not _csrf_ok(form, csrf):
        return _refused(request, "That form could not be used: go back to the referrals page and try again.")
    reason = form.get("decline_reason") if action == "decline" else None
    if action == "decline" and reason not in DECLINE_WORDS:
        return _refused(request, "Choose why you decline.", 422)
    try:
        submission = answer_submission(engine, principal.organisation, referral_id, ANSWERED[action][0],
                                       datetime.now(UTC), DeclineReason(reason) if reason else None)
        submit(submission, idempotency_key=None, principal=principal, engine=engine, producer=producer,
               settings=settings, now=datetime.now(UTC))
    except ReferralRefused as refused:
        return _refused(request, str(refused), refused.status)
    except (IdempotencyConflict, NotAccepted):
        return _refused(request, "That could not be recorded just now: try again in a minute.", 503)
    return RedirectResponse(f"/referrals?done={action}", status_code=303)
