"""Emergency beds: providers, capacity, the live availability, requests and stays."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, status

from api import beds
from api.beds import Availability, BedRequestView, BedsError, Caller, ProviderView
from api.deps import EngineDep, ProducerDep, SettingsDep, allow
from api.problems import NOT_FOUND
from api.producer import NotAccepted
from api.routes.submissions import IdempotencyKey
from readmodel.keys import Principal, Role
from schemas.beds import BedRequestSubmission, CapacityFields, CheckOut, ProviderRegistration, RequestAccepted
from schemas.common import IsoDate
from schemas.events import BedType

router = APIRouter(prefix="/v1/beds", tags=["beds"])

PROVIDERS = allow(Role.CHARITY, Role.HOUSING_PROVIDER, Role.COUNCIL)
REQUESTERS = allow(Role.OUTREACH, Role.CHARITY, Role.HOUSING_PROVIDER, Role.HEALTH, Role.COUNCIL)
VIEWERS = allow(Role.OUTREACH, Role.CHARITY, Role.HOUSING_PROVIDER, Role.HEALTH, Role.COUNCIL, Role.FRONTLINE,
                Role.POLICE)


def _answer(action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """One translation of refusals into HTTP answers for every bed endpoint."""
    try:
        return action(*args, **kwargs)
    except BedsError as error:
        if error.status == 422:
            detail: Any = [{"loc": ["body", error.field], "msg": str(error), "type": "value_error"}]
        else:
            detail = str(error)
        raise HTTPException(error.status, detail) from None
    except NotAccepted as error:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"Kafka did not acknowledge the command ({error}); retry") from None


def _caller(principal: Principal, idempotency_key: str | None = None) -> Caller:
    return Caller(principal=principal, now=datetime.now(UTC), idempotency_key=idempotency_key)


@router.post("/providers", status_code=status.HTTP_202_ACCEPTED)
def register_provider(registration: ProviderRegistration, engine: EngineDep, producer: ProducerDep,
                      settings: SettingsDep, idempotency_key: IdempotencyKey = None,
                      principal: Principal = PROVIDERS) -> dict[str, str]:
    """Register (or update) a provider of emergency beds run by the caller's organisation."""
    _answer(beds.register_provider, registration, caller=_caller(principal, idempotency_key), engine=engine,
            producer=producer, settings=settings)
    return {"provider_id": registration.provider_id}


@router.get("/providers")
def list_providers(engine: EngineDep, principal: Principal = VIEWERS) -> list[ProviderView]:
    return beds.list_providers(engine)


@router.post("/providers/{provider_id}/capacity", status_code=status.HTTP_202_ACCEPTED)
def change_capacity(provider_id: str, change: CapacityFields, engine: EngineDep, producer: ProducerDep,
                    settings: SettingsDep, idempotency_key: IdempotencyKey = None,
                    principal: Principal = PROVIDERS) -> dict[str, str]:
    """Beds opened, closed, or temporarily reduced from a night. Send an Idempotency-Key: a retry
    after a timeout without one opens (or closes) the beds again."""
    _answer(beds.change_capacity, provider_id, change, caller=_caller(principal, idempotency_key), engine=engine,
            producer=producer, settings=settings)
    return {"provider_id": provider_id}


@router.get("/providers/{provider_id}/requests")
def provider_requests(provider_id: str, engine: EngineDep, settings: SettingsDep,
                      night: Annotated[IsoDate | None, Query(description="Default: tonight")] = None,
                      principal: Principal = PROVIDERS) -> list[BedRequestView]:
    """Who has a bed, who is waiting and who was refused at this provider on a night."""
    caller = _caller(principal)
    return _answer(beds.list_requests, engine, provider_id, night or beds.tonight(caller.now, settings), caller)


@router.get("/availability")
def availability(engine: EngineDep, settings: SettingsDep,
                 night: Annotated[IsoDate | None, Query(description="Default: tonight")] = None,
                 area_code: str | None = None, bed_type: BedType | None = None,
                 principal: Principal = VIEWERS) -> Availability:
    """Free beds on a night by provider and bed type, occupancy and waitlists."""
    return beds.availability(engine, night or beds.tonight(datetime.now(UTC), settings), area_code, bed_type)


@router.post("/requests", status_code=status.HTTP_202_ACCEPTED, responses=NOT_FOUND)  # an unknown provider
def request_bed(submission: BedRequestSubmission, engine: EngineDep, producer: ProducerDep,
                settings: SettingsDep, idempotency_key: IdempotencyKey = None,
                principal: Principal = REQUESTERS) -> RequestAccepted:
    """Ask for a bed for a person on a night. The decision follows: GET /v1/beds/requests/{id}.
    The request id (or, without one, the Idempotency-Key) makes a retry harmless; a request id
    used before for another person, provider, night or bed type is refused with 409."""
    return _answer(beds.request_bed, submission, caller=_caller(principal, idempotency_key), engine=engine,
                   producer=producer, settings=settings)


@router.get("/requests/{request_id}")
def get_request(request_id: UUID, engine: EngineDep, principal: Principal = REQUESTERS) -> BedRequestView:
    """The decision on a request: allocated (with the bed), waitlisted or refused (with why). Seen
    by the organisation that asked, the provider's organisation and the council; 404 for others."""
    return _answer(beds.get_request, engine, request_id, _caller(principal, None))


def _record(request_id: UUID, kind: str, principal: Principal, engine: EngineDep, producer: ProducerDep,
            settings: SettingsDep, idempotency_key: str | None, check_out: CheckOut | None = None) -> dict[str, str]:
    command_id = _answer(beds.record_stay, request_id, kind, caller=_caller(principal, idempotency_key),
                         engine=engine, producer=producer, settings=settings, check_out=check_out)
    return {"request_id": str(request_id), "command_id": str(command_id)}


@router.post("/requests/{request_id}/check-in", status_code=status.HTTP_202_ACCEPTED)
def check_in(request_id: UUID, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
             idempotency_key: IdempotencyKey = None,
             principal: Principal = REQUESTERS) -> dict[str, str]:
    """The person arrived and has the bed."""
    return _record(request_id, "bed.check_in", principal, engine, producer, settings, idempotency_key)


@router.post("/requests/{request_id}/no-show", status_code=status.HTTP_202_ACCEPTED)
def no_show(request_id: UUID, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
            idempotency_key: IdempotencyKey = None, principal: Principal = REQUESTERS) -> dict[str, str]:
    """The person did not arrive: the bed goes to the first on the waitlist."""
    return _record(request_id, "bed.no_show", principal, engine, producer, settings, idempotency_key)


@router.post("/requests/{request_id}/check-out", status_code=status.HTTP_202_ACCEPTED)
def check_out(request_id: UUID, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
              body: CheckOut | None = None, idempotency_key: IdempotencyKey = None,
              principal: Principal = REQUESTERS) -> dict[str, str]:
    """The stay ended (with why, if known): the bed is free again."""
    return _record(request_id, "bed.check_out", principal, engine, producer, settings, idempotency_key, body)


@router.post("/requests/{request_id}/withdraw", status_code=status.HTTP_202_ACCEPTED)
def withdraw(request_id: UUID, engine: EngineDep, producer: ProducerDep, settings: SettingsDep,
             idempotency_key: IdempotencyKey = None,
             principal: Principal = REQUESTERS) -> dict[str, str]:
    """The bed or waitlist place is no longer wanted and is released."""
    return _record(request_id, "bed.withdraw", principal, engine, producer, settings, idempotency_key)
