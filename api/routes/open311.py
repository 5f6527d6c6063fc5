"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2) for apps that already speak it:
one service, someone sleeping rough, mapped onto sighting reports and their lifecycle. A request's
public status says how far the report got, never anything about the person or the reporter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import EngineDep, ProducerDep, SettingsDep
from api.intake import IdempotencyConflict, submit
from api.keys import Role, authenticate
from api.producer import NotAccepted
from api.public import PublicReport, progress
from api.reports import find_report

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


@router.post("/requests.json")
async def post_request(request: Request, engine: EngineDep, producer: ProducerDep,
                       settings: SettingsDep) -> JSONResponse:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    now = datetime.now(UTC)
    principal = authenticate(engine, form.get("api_key", ""), now)
    if principal is None:
        return _refused(403, "api_key is missing, unknown, expired or revoked")
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
        accepted = submit(submission, idempotency_key=None, principal=principal, engine=engine, producer=producer,
                          settings=settings, now=now)
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
