"""A partner's referrals: the inbox of referrals made to it (accept or decline) and those it made."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.claims import IdempotencyConflict
from api.deps import EngineDep, ProducerDep, SettingsDep
from api.intake import submit_from_thread
from api.producer import NotAccepted
from api.routes.members.common import SERVICE, FormDep, csrf_ok, page_member, refusal_page, router, signed_in_member
from api.routes.pages import page
from journey import policy
from readmodel.referrals import ReferralRefused, answer_submission, referrals_of
from readmodel.sharing import disclosed_referrals
from schemas.events import DeclineReason

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
    member = page_member(request, engine, TAKERS, "Referrals are for organisations that can take a person on.")
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
    member = signed_in_member(request, engine)
    if member is None:
        return RedirectResponse("/sign-in?next=/referrals", status_code=303)
    principal, csrf = member
    if action not in ANSWERED or not csrf_ok(form, csrf):
        return refusal_page(request, "That form could not be used: go back to the referrals page and try again.")
    reason = form.get("decline_reason") if action == "decline" else None
    if action == "decline" and reason not in DECLINE_WORDS:
        return refusal_page(request, "Choose why you decline.", 422)
    try:
        submission = answer_submission(engine, principal.organisation, referral_id, ANSWERED[action][0],
                                       datetime.now(UTC), DeclineReason(reason) if reason else None)
        submit_from_thread(submission, idempotency_key=None, principal=principal, engine=engine, producer=producer,
                           settings=settings, now=datetime.now(UTC))
    except ReferralRefused as refused:
        return refusal_page(request, str(refused), refused.status)
    except (IdempotencyConflict, NotAccepted):
        return refusal_page(request, "That could not be recorded just now: try again in a minute.", 503)
    return RedirectResponse(f"/referrals?done={action}", status_code=303)
