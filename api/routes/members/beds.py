"""The providers' bed page: tonight's requests for the provider's beds, with check-in, no-show and
check-out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import beds
from api.deps import EngineDep, ProducerDep, SettingsDep
from api.producer import NotAccepted
from api.routes.members.common import SERVICE, FormDep, csrf_ok, page_member, refusal_page, router, signed_in_member
from api.routes.pages import page
from readmodel.keys import Role

PROVIDERS = frozenset({Role.COUNCIL, Role.CHARITY, Role.HOUSING_PROVIDER})


ACTIONS = {"check-in": ("bed.check_in", "Check in"), "no-show": ("bed.no_show", "No-show"),
           "check-out": ("bed.check_out", "Check out")}


OFFERED = {"allocated": ("check-in", "no-show"), "checked_in": ("check-out",)}


DONE = {"check-in": "Checked in.", "no-show": "Recorded as a no-show: the bed goes to the first waiting.",
        "check-out": "Checked out: the bed is free again."}


@router.get("/beds", response_class=HTMLResponse)
def beds_page(request: Request, engine: EngineDep, settings: SettingsDep, done: str | None = None) -> Response:
    member = page_member(request, engine, PROVIDERS,
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
    member = signed_in_member(request, engine)
    if member is None:
        return RedirectResponse("/sign-in?next=/beds", status_code=303)
    principal, csrf = member
    if action not in ACTIONS or not csrf_ok(form, csrf):
        return refusal_page(request, "That form could not be used: go back to the beds page and try again.")
    try:
        beds.record_stay(request_id, ACTIONS[action][0], caller=beds.Caller(principal=principal, now=datetime.now(UTC)),
                         engine=engine, producer=producer, settings=settings)
    except beds.BedsError as error:
        return refusal_page(request, str(error), error.status)
    except NotAccepted:
        return refusal_page(request, "The change could not be recorded just now: try again in a minute.", 503)
    return RedirectResponse(f"/beds?done={action}", status_code=303)
