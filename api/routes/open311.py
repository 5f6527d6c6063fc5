"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2) for apps that already speak it:
one service, someone sleeping rough, mapped onto sighting reports and their lifecycle. A request's
public status says how far the report got, never anything about the person or the reporter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.claims import IdempotencyConflict
from api.deps import EngineDep, ProducerDep, SettingsDep
from api.intake import submit_from_thread
from api.producer import NotAccepted
from api.public import PublicReport, progress
from api.reports import find_report
from readmodel.keys import Role, authenticate

router = APIRouter(prefix="/open311/v2", include_in_schema=False)

SERVICE_CODE = "rough-sleeping"
SERVICE = {
    "service_code": SERVICE_CODE, "service_name": "Someone sleeping rough",
    "description": "Tell the outreach team about an adult sleeping rough, so that they can go and offer help. "
                   "If someone is in immediate danger, call 999.",
    "metadata": False, "type": "realtime", "keywords": "rough sleeping, homeless, streetlink", "group": "Homelessness",
}
# Who may report through Open311: a key of an organisation that may report (apps hold one).
REPORTING = frozenset({Role.PUBLIC, Role.FRONTLINE, Role.POLICE, Role.OUTREACH, Role.COUNCIL, Role.CHARITY})


def _refused(status: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": status, "description": description}], status_code=status)


@router.get("/services.json")
def services() -> list[dict[str, Any]]:
    return [SERVICE]


class _Unreadable(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


async def _form(request: Request, limit: int) -> dict[str, str]:
    """The request's form fields: form-encoded only (GeoReport v2's posts are), read as it streams
    and stopped at the same size limit as /v1's bodies, each field given at most once."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise _Unreadable(415, "the body must be application/x-www-form-urlencoded")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _Unreadable(413, f"the body is over the limit of {limit} bytes")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body), max_num_fields=50)
    except (UnicodeDecodeError, ValueError) as error:
        raise _Unreadable(400, f"the body is not a form: {error}") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise _Unreadable(400, f"{name} is given twice")
        form[name] = value
    return form


async def _read(request: Request) -> dict[str, str] | _Unreadable:
    """The form, read on the event loop (the route then runs in a thread: its database and Kafka
    calls never hold the loop up), or why it could not be read."""
    try:
        return await _form(request, request.app.state.settings.max_payload_bytes)
    except _Unreadable as unreadable:
        return unreadable


@router.post("/requests.json")
def post_request(request: Request, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
                 form: Annotated[dict[str, str] | _Unreadable, Depends(_read)]) -> JSONResponse:
    if isinstance(form, _Unreadable):
        return _refused(form.status, form.description)
    now = datetime.now(UTC)
    principal = authenticate(engine, form.get("api_key", ""), now)
    if principal is None:
        return _refused(403, "api_key is missing, unknown, expired or revoked")
    allowance = request.app.state.key_allowance
    if wait := allowance.seconds_to_wait(principal.key_id):
        refused = _refused(429, allowance.said(wait))
        refused.headers["Retry-After"] = str(wait)
        return refused
    if principal.role not in REPORTING:
        return _refused(403, f"the role {principal.role.value} may not report")
    if form.get("service_code") != SERVICE_CODE:
        return _refused(404, f"service_code must be {SERVICE_CODE}")
    name = " ".join(part for part in (form.get("first_name"), form.get("last_name")) if part) or None
    report = PublicReport(occurred_at=now, place=form.get("address_string"), latitude=form.get("lat"),
                          longitude=form.get("long"), description=form.get("description"), name=name,
                          email=form.get("email"), phone=form.get("phone"), wants_update=bool(form.get("email")))
    submission, wrong = report.checked()
    if submission is None:
        return _refused(400, "; ".join(f"{field}: {said}" for field, said in wrong.items()))
    try:
        accepted = submit_from_thread(submission, idempotency_key=None, principal=principal, engine=engine,
                                      producer=producer, settings=settings, now=now)
    except (IdempotencyConflict, NotAccepted):
        return _refused(503, "the report could not be recorded just now; try again")
    return JSONResponse([{"service_request_id": str(accepted.event_id),
                          "service_notice": "Passed to the outreach team for the area", "account_id": None}],
                        status_code=201)


@router.get("/requests/{request_id}.json")
def get_request(request_id: str, engine: EngineDep) -> JSONResponse:
    try:
        report_id = UUID(request_id)
    except ValueError:
        return _refused(404, "no such request")
    row = find_report(engine, report_id)
    if row is None:
        return _refused(404, "no such request (a new one takes a moment to appear)")
    said = progress(row)
    updated = max(t for t in (row.received_at, row.first_attempt_at, row.outcome_at) if t is not None)
    return JSONResponse([{
        "service_request_id": str(report_id), "status": "open" if said.open else "closed",
        "status_notes": said.said, "service_name": SERVICE["service_name"], "service_code": SERVICE_CODE,
        "agency_responsible": row.team, "requested_datetime": row.received_at.isoformat(),
        "updated_datetime": updated.isoformat(),
    }])
