"""The people pages: finding someone, and a person's journey as the sharing policy shows it."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from api import beds
from api.deps import EngineDep, SettingsDep
from api.routes.members.common import SERVICE, FormDep, page_member, refusal_page, router, searched
from api.routes.pages import page
from journey.matching import Search
from journey.policy import MAY_READ_PEOPLE
from readmodel.keys import Principal, Role
from readmodel.sharing import NotTheirs, disclosed_journey, search_people, subject_access

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
        return refusal_page(request, "Nobody you may see has this id.", 404)
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
