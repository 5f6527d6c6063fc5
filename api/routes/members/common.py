"""What every member page shares: the router, the signed-in member and their CSRF token, forms read
on the event loop, searches from a form, and the page that says no."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine

from api import sessions
from api.deps import EngineDep
from api.routes.pages import page
from journey.matching import Search
from journey.policy import most_seen
from readmodel.keys import Principal, Role

router = APIRouter(include_in_schema=False)


SERVICE = "Journeys"


async def form_fields(request: Request) -> dict[str, str]:
    """A form's text fields, read on the event loop; the route itself is a plain function that
    FastAPI runs in a thread, so its database and Kafka calls never hold the loop up."""
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


async def body_bytes(request: Request) -> bytes:
    return await request.body()


FormDep = Annotated[dict[str, str], Depends(form_fields)]


BodyDep = Annotated[bytes, Depends(body_bytes)]


def csrf_ok(form: dict[str, str], csrf: str) -> bool:
    return hmac.compare_digest(form.get("csrf", ""), csrf)


def signed_in_member(request: Request, engine: EngineDep) -> tuple[Principal, str] | None:
    """The signed-in member and their session's CSRF token, or None."""
    session = sessions.current(engine, request.cookies.get(sessions.COOKIE), datetime.now(UTC))
    return None if session is None else (session.principal, session.csrf)


def page_member(request: Request, engine: EngineDep, roles: frozenset[Role],
                 refusal: str) -> tuple[Principal, str] | Response:
    """The signed-in member a page is for, with their session's CSRF token: sent to sign in (and
    back to this page) if nobody is signed in, refused if their kind of organisation is not
    among `roles`."""
    member = signed_in_member(request, engine)
    if member is None:
        return RedirectResponse(f"/sign-in?next={request.url.path}", status_code=303)
    if member[0].role not in roles:
        return refusal_page(request, refusal)
    return member


def searched(request: Request, engine: Engine, form: dict[str, str]) -> Search | Response:
    """A search from a page's form (its CSRF token checked), each part cut to a sane length; the
    terms a member's organisation may never search by (journey/matching.SEARCHED_IN) are dropped."""
    member = signed_in_member(request, engine)
    if member is None:
        return RedirectResponse(f"/sign-in?next={request.url.path}", status_code=303)
    principal, csrf = member
    if not csrf_ok(form, csrf):
        return refusal_page(request, "That form could not be used: go back and try again.")

    def term(key: str, longest: int) -> str | None:
        return form.get(key, "").strip()[:longest] or None

    search = Search(name=term("name", 120), description=term("description", 200), area=term("area", 32))
    allowed = most_seen(principal.role)
    kept = {t: getattr(search, t) for t, category in search.terms().items() if category in allowed}
    return Search(**kept)


REFUSED_TITLES = {403: "Not for you", 404: "Not found", 409: "That could not be done",
                  422: "That could not be done", 503: "Try again in a minute"}


def refusal_page(request: Request, said: str, status: int = 403) -> HTMLResponse:
    """A member's page or form that could not be served: what went wrong and the way back."""
    section = "/" + request.url.path.split("/")[1]
    home = section if section in ("/outreach", "/people", "/board", "/referrals") else "/beds"
    return page(request, "refused.html", status, title=REFUSED_TITLES[status], service=SERVICE, home=home, said=said)


def form_member(request: Request, engine: Engine, form: dict[str, str], roles: frozenset[Role],
                back: str) -> Principal | Response:
    """The signed-in member who sent a page's form, with its CSRF token checked: sent to sign in
    (and back to `back`) if nobody is signed in, refused if their kind of organisation is not
    among `roles` or the token is wrong."""
    member = signed_in_member(request, engine)
    if member is None:
        return RedirectResponse(f"/sign-in?next={back}", status_code=303)
    principal, csrf = member
    if principal.role not in roles or not csrf_ok(form, csrf):
        return refusal_page(request, "That form could not be used: go back and try again.")
    return principal
