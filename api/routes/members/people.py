"""The people pages: finding someone, and a person's journey as the sharing policy shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine

from api import beds, sessions
from api.deps import EngineDep, SettingsDep
from api.routes.members.common import SERVICE, FormDep, csrf_ok, page_member, refusal_page, router, searched
from api.routes.members.signing_in import confirm_ways, provider_origins
from api.routes.pages import page
from journey.matching import Search
from journey.policy import MAY_BREAK_GLASS, MAY_READ_PEOPLE
from readmodel.keys import Principal, Role
from readmodel.people import load_journey
from readmodel.sharing import (
    BreakGlassCapped,
    NotTheirs,
    disclosed_journey,
    grant_break_glass,
    search_people,
    subject_access,
)

PEOPLE_PAGES = frozenset(MAY_READ_PEOPLE)


@router.get("/people", response_class=HTMLResponse)
def people_page(request: Request, engine: EngineDep) -> Response:
    """Finding a person, for members of every organisation that may see people: each found
    person is shown only as far as the policy lets this member see them (and the read audited)."""
    return _people(request, engine, Search())


@router.post("/people", response_class=HTMLResponse)
def people_search(request: Request, engine: EngineDep, form: FormDep) -> Response:
    """The same page with what a search found (terms in the body, never the URL)."""
    search = searched(request, engine, form)
    if isinstance(search, Response):
        return search
    return _people(request, engine, search)


def _people(request: Request, engine: Engine, search: Search) -> Response:
    member = page_member(request, engine, PEOPLE_PAGES, "Your organisation does not see people's journeys.")
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
    member = page_member(request, engine, PEOPLE_PAGES, "Your organisation does not see people's journeys.")
    if isinstance(member, Response):
        return member
    return person_page_for(request, engine, settings, member, person_id, "/people", None)


def person_page_for(request: Request, engine: EngineDep, settings: SettingsDep, member: tuple[Principal, str],
                 person_id: UUID, home: str, flash: str | None) -> Response:
    principal, csrf = member
    outreach = home == "/outreach"
    shown = disclosed_journey(engine, principal, person_id, settings, datetime.now(UTC),
                              "GET /outreach/people" if outreach else "GET /people")
    if shown is None:
        if principal.role not in BREAK_GLASS_PAGES:
            return refusal_page(request, "Nobody you may see has this id.", 404)
        # Whether such a person exists is not said; in an emergency the member may break the glass.
        return page(request, "refused.html", 404, title="Not found", service=SERVICE, home=home,
                    said="Nobody you may see has this id.", break_glass=f"/people/{person_id}/break-glass")
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
                outreach=outreach, providers=providers, flash=flash,
                may_break_glass=principal.role in BREAK_GLASS_PAGES)


@router.get("/people/{person_id}/subject-access", response_class=HTMLResponse)
def subject_access_page(person_id: UUID, request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    """The printable answer to a person's subject access request, for the council's data
    protection lead to give them."""
    member = page_member(request, engine, frozenset({Role.COUNCIL}),
                         "Subject access requests are answered by the council's data protection lead.")
    if isinstance(member, Response):
        return member
    principal, csrf = member
    try:
        answer = subject_access(engine, principal, person_id, settings, datetime.now(UTC))
    except NotTheirs as refused:
        return refusal_page(request, str(refused))
    if answer is None:
        return refusal_page(request, "Nobody is known by this id.", 404)
    return page(request, "subject_access.html", title="The information held about you", service=SERVICE,
                home="/people", csrf=csrf, organisation=principal.organisation, a=answer,
                produced=f"{datetime.now(settings.zone):%-d %B %Y, %H:%M}")


# Break-glass on the pages: reading beyond the policy for a while, with a reason, after the member
# confirmed it is them in the last few minutes (a phone left signed in cannot break the glass).

BREAK_GLASS_PAGES = frozenset(MAY_BREAK_GLASS) & PEOPLE_PAGES
BREAK_GLASS_MINUTES = (15, 30, 60, 120, 240)


def _break_glass_page(request: Request, engine: Engine, session: sessions.Session, person_id: UUID, code: int = 200,
                      *, reason: str = "", minutes: int = 60, errors: dict[str, str] | None = None,
                      notice: str | None = None) -> HTMLResponse:
    path = f"/people/{person_id}/break-glass"
    return page(request, "break_glass.html", code, title="Break glass", service=SERVICE, home="/people",
                csrf=session.csrf, person_id=str(person_id), reason=reason, minutes=minutes,
                choices=BREAK_GLASS_MINUTES, errors=errors or {}, notice=notice,
                confirmed=session.recently_authenticated(datetime.now(UTC)),
                ways=confirm_ways(request, engine, session.principal), next=path,
                form_targets=provider_origins(request))


def _breaker(request: Request, engine: Engine) -> sessions.Session | Response:
    member = page_member(request, engine, BREAK_GLASS_PAGES, "Your organisation may not break the glass.")
    if isinstance(member, Response):
        return member
    session = sessions.current(engine, request.cookies.get(sessions.COOKIE), datetime.now(UTC))
    return session if session is not None else RedirectResponse("/sign-in?next=/people", status_code=303)


@router.get("/people/{person_id}/break-glass", response_class=HTMLResponse)
def break_glass_page(person_id: UUID, request: Request, engine: EngineDep) -> Response:
    """Why and for how long, once the member has confirmed it is them."""
    session = _breaker(request, engine)
    if isinstance(session, Response):
        return session
    return _break_glass_page(request, engine, session, person_id)


@router.post("/people/{person_id}/break-glass", response_class=HTMLResponse)
def break_glass(person_id: UUID, request: Request, engine: EngineDep, settings: SettingsDep,
                form: FormDep) -> Response:
    """The same grant as POST /v1/people/{id}/break-glass: recorded, the lead told at once, every
    read under it audited as such, capped a day; then the person's page, as it now reads."""
    session = _breaker(request, engine)
    if isinstance(session, Response):
        return session
    if not csrf_ok(form, session.csrf):
        return refusal_page(request, "That form could not be used: go back and try again.")
    reason = form.get("reason", "").strip()
    minutes = int(form["minutes"]) if form.get("minutes", "").isdigit() else 0
    now = datetime.now(UTC)
    again = {"reason": reason, "minutes": minutes if minutes in BREAK_GLASS_MINUTES else 60}
    if not session.recently_authenticated(now):
        return _break_glass_page(request, engine, session, person_id, 403, **again,
                                 notice="Confirm it's you first: it has been more than a few minutes.")
    errors = {}
    if not 10 <= len(reason) <= 500:
        errors["reason"] = "Say why, in 10 to 500 characters (it goes to your data protection lead)"
    if minutes not in BREAK_GLASS_MINUTES:
        errors["minutes"] = "Choose how long"
    if errors:
        return _break_glass_page(request, engine, session, person_id, 422, **again, errors=errors)
    if load_journey(engine, person_id) is None:
        return refusal_page(request, "Nobody has this id.", 404)
    try:
        grant_break_glass(engine, session.principal, person_id, reason, now + timedelta(minutes=minutes), now,
                          daily_cap=settings.break_glass_daily_cap)
    except BreakGlassCapped:
        return _break_glass_page(request, engine, session, person_id, 429, **again, notice=(
            f"Break-glass is limited to {settings.break_glass_daily_cap} a day: your data protection lead has "
            "been told."))
    return RedirectResponse(f"/people/{person_id}", status_code=303)
