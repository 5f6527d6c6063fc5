"""Eyes and ears on a phone: a frontline member reports signs that someone may become homeless,
and sees what became of the reports their organisation made (the duty-to-refer referral's
answer, nothing more of the person)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.claims import IdempotencyConflict
from api.deps import EngineDep, ProducerDep, SettingsDep
from api.intake import submit_from_thread
from api.producer import NotAccepted
from api.routes.members.common import SERVICE, form_member, page_member, router
from api.routes.pages import page
from readmodel.keys import Principal, Role
from readmodel.sharing import disclosed_risk_reports
from schemas.events import RiskFactor
from schemas.submissions import RiskReportSubmission

EYES_AND_EARS = frozenset({Role.FRONTLINE, Role.OUTREACH, Role.COUNCIL, Role.CHARITY, Role.HEALTH, Role.POLICE,
                           Role.HOUSING_PROVIDER})
FACTOR_WORDS = {
    RiskFactor.RENT_ARREARS: "Rent arrears",
    RiskFactor.MORTGAGE_ARREARS: "Mortgage arrears",
    RiskFactor.NOTICE_TO_QUIT: "A notice to leave their home",
    RiskFactor.POSSESSION_ORDER: "A possession order or eviction date",
    RiskFactor.ASKED_TO_LEAVE: "Family or friends asking them to leave",
    RiskFactor.RELATIONSHIP_BREAKDOWN: "A relationship breaking down",
    RiskFactor.DOMESTIC_ABUSE: "Domestic abuse",
    RiskFactor.LEAVING_PRISON: "Leaving prison soon",
    RiskFactor.LEAVING_HOSPITAL: "Leaving hospital soon",
    RiskFactor.LEAVING_CARE: "Leaving care",
    RiskFactor.SOFA_SURFING: "Sofa surfing",
    RiskFactor.LOSS_OF_INCOME: "Lost their job or income",
}
STATUS_WORDS = {None: "Not referred: the person did not agree", "open": "Referred: waiting for the housing team",
                "accepted": "The housing team took it on", "declined": "The housing team declined it",
                "withdrawn": "Withdrawn", "expired": "Not answered in time"}
# Where a field's error is shown on the form.
_FIELD_OF = {"factors": "factors", "consent_obtained": "consent", "say who": "known_as", "urgency": "urgency",
             "consent_to_refer": "consent"}


def _page(request: Request, engine: EngineDep, principal: Principal, csrf: str, *, code: int = 200,
          form: dict[str, str] | None = None, chosen: list[str] | None = None, errors: dict[str, str] | None = None,
          flash: str | None = None) -> HTMLResponse:
    reports = [{**r.model_dump(mode="json"), "said": STATUS_WORDS.get(r.referral_status, r.referral_status),
                "when": f"{r.reported_at:%-d %b %H:%M}",
                "factor_words": [FACTOR_WORDS.get(RiskFactor(f), f) for f in r.factors]}
               for r in disclosed_risk_reports(engine, principal, datetime.now(UTC), limit=20)]
    return page(request, "eyes_and_ears.html", code, title="At risk of homelessness", service=SERVICE,
                home="/eyes-and-ears", csrf=csrf, organisation=principal.organisation,
                factors=list(FACTOR_WORDS.items()), form=form or {}, chosen=chosen or [], errors=errors or {},
                flash=flash, reports=reports,
                token=(form or {}).get("token") or secrets.token_urlsafe(16))


@router.get("/eyes-and-ears", response_class=HTMLResponse)
def eyes_and_ears_page(request: Request, engine: EngineDep, done: str | None = None) -> Response:
    member = page_member(request, engine, EYES_AND_EARS, "This page is for staff of partner organisations.")
    if isinstance(member, Response):
        return member
    principal, csrf = member
    flash = "Sent. What becomes of it shows below." if done == "sent" else None
    return _page(request, engine, principal, csrf, flash=flash)


@router.post("/eyes-and-ears", response_class=HTMLResponse)
async def eyes_and_ears_send(request: Request, engine: EngineDep, producer: ProducerDep,
                             settings: SettingsDep) -> Response:
    # Read here, not as a dependency: the form holds a list (the factors ticked).
    raw = await request.form()
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    chosen = [v for v in raw.getlist("factors") if isinstance(v, str)]
    return await run_in_threadpool(_send, request, engine, producer, settings, form, chosen)


def _send(request: Request, engine: EngineDep, producer: ProducerDep, settings: SettingsDep, form: dict[str, str],
          chosen: list[str]) -> Response:
    principal = form_member(request, engine, form, EYES_AND_EARS, "/eyes-and-ears")
    if isinstance(principal, Response):
        return principal
    csrf = form["csrf"]  # checked: the session's own
    consent = form.get("consent")
    now = datetime.now(UTC)
    body = {
        "occurred_at": now.isoformat(),
        "details": {"urgency": form.get("urgency") or None, "consent_to_refer": consent in ("verbal", "written"),
                    "consent_obtained": consent if consent in ("verbal", "written") else None,
                    "referring_service": form.get("service") or None},
        "personal": {"known_as": form.get("known_as") or None, "person_description": form.get("description") or None,
                     "factors": chosen, "notes": form.get("notes") or None,
                     "contact": {"phone": form["phone"]} if form.get("phone") else None},
    }
    errors: dict[str, str] = {}
    # Said at once, whatever else is wrong (the model's own checks across fields wait for its fields).
    if not chosen:
        errors["factors"] = _words("factors", "")
    if consent not in ("verbal", "written", "no"):
        errors["consent"] = "Say whether the person agreed to be referred"
    try:
        submission = RiskReportSubmission.model_validate(body)
    except ValidationError as invalid:
        for item in invalid.errors(include_input=False, include_url=False):
            said = str(item["msg"]).removeprefix("Value error, ")
            where = next((field for key, field in _FIELD_OF.items() if key in said or key in map(str, item["loc"])),
                         "known_as")
            errors.setdefault(where, _words(where, said))
        submission = None
    if errors or submission is None:
        return _page(request, engine, principal, csrf, code=422, form=form, chosen=chosen, errors=errors)
    key = form.get("token") or None  # the form's own token: a double click is one report
    try:
        submit_from_thread(submission, idempotency_key=key, principal=principal, engine=engine, producer=producer,
                           settings=settings, now=now)
    except (IdempotencyConflict, NotAccepted):
        return _page(request, engine, principal, csrf, code=503, form=form, chosen=chosen,
                     errors={"known_as": "It could not be sent just now: try again in a minute"})
    return RedirectResponse("/eyes-and-ears?done=sent", status_code=303)


def _words(field: str, said: str) -> str:
    return {"factors": "Tick at least one sign you saw",
            "consent": "Say how the person agreed to be referred",
            "known_as": "Say who: the name they use, or a description",
            "urgency": "Say how soon they may lose their home"}.get(field, said)
