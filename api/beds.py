"""Emergency beds in the API: commands to the agents, and the live picture from the read model.

The agents decide; the API checks what it can see (the provider exists, the caller runs it,
the stay is in a state the command fits) so that a mistake gets a clear answer at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import Engine, select

from api.claims import IdempotencyConflict
from api.intake import Envelope, fingerprint
from api.producer import EventProducer
from journey.beds import capacity_of
from journey.nights import night_of
from readmodel.keys import Principal, Role
from readmodel.sharing import NotVisible, disclosed_bed_requests, writable
from readmodel.tables import bed_command_refusals, bed_nights, bed_providers, bed_requests
from schemas.beds import (
    BedCommand,
    BedCount,
    BedRequested,
    BedRequestSubmission,
    CapacityChanged,
    CapacityFields,
    CapacityWindow,
    CheckOut,
    CommandRefused,
    ProviderRegistered,
    ProviderRegistration,
    RequestAccepted,
    StayCommand,
)
from schemas.events import BedType
from schemas.ids import keyed_id
from schemas.settings import Settings
from schemas.topics import BED_COMMANDS, BED_REQUESTS


class BedsError(Exception):
    """A command the API refuses before it reaches the agents. `status` is the HTTP status."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True)
class Caller:
    principal: Principal
    now: datetime
    idempotency_key: str | None = None

    def envelope(self, provider_id: str) -> dict[str, Any]:
        """A command's envelope (api/intake.py): under an idempotency key its id is the same on
        every retry, so a copy sent twice (the first ack was lost) is one command to the
        provider's stage."""
        envelope = Envelope.of(self.principal, self.now, self.idempotency_key)
        return {"id": envelope.id, "provider_id": provider_id, "source": envelope.source, "actor": envelope.actor,
                "time": envelope.time}

    @property
    def once(self) -> tuple[str, str] | None:
        return Envelope.of(self.principal, self.now, self.idempotency_key).once

    def runs(self, provider: Any) -> bool:
        """Whether the caller may act for this provider: its own organisation, the council, admin."""
        role = self.principal.role
        return role is Role.COUNCIL or provider.organisation == self.principal.organisation


# Request ids are one namespace whoever sends them: one id, one request for one person.
REQUEST_IDS = "(bed request ids)"


def tonight(now: datetime, settings: Settings) -> date:
    return night_of(now, settings.zone)


def _provider(engine: Engine, provider_id: str) -> Any:
    with engine.connect() as connection:
        row = connection.execute(select(bed_providers).where(bed_providers.c.provider_id == provider_id)).first()
    if row is None:
        raise BedsError(404, f"no provider {provider_id!r} (a registration takes a moment to be processed)")
    return row


def _send(producer: EventProducer, settings: Settings, command: BedCommand, topic: str, key: str, *,
          engine: Engine, once: tuple[str, str] | None) -> bool:
    """Send a command. Under `once` (scope, key) it is sent once: a retry with the same body
    sends nothing new once Kafka has acknowledged the first (returns False), and the same key
    with another body is refused with 409."""
    body = fingerprint(f"{type(command).__name__}:{command.model_dump_json(exclude={'id', 'time', 'actor'})}")
    try:
        earlier = producer.send_once_from_thread(settings.topic(topic), key.encode(),
                                                 command.model_dump_json().encode(), message_id=command.id, once=once,
                                                 body_sha256=body, now=command.time)
    except IdempotencyConflict:
        what = "request id" if once and once[0] == REQUEST_IDS else "idempotency key"
        raise BedsError(409, f"this {what} was used before for a different command") from None
    return earlier is None


def register_provider(registration: ProviderRegistration, *, caller: Caller, engine: Engine,
                      producer: EventProducer, settings: Settings) -> None:
    try:
        existing = _provider(engine, registration.provider_id)
    except BedsError:
        existing = None
    if existing is not None and not caller.runs(existing):
        raise BedsError(409, f"provider {registration.provider_id!r} is registered by another organisation",
                        "provider_id")
    release = registration.no_show_release or settings.bed_no_show_release
    limit = settings.bed_waitlist_limit if registration.waitlist_limit is None else registration.waitlist_limit
    command = ProviderRegistered(
        **caller.envelope(registration.provider_id), name=registration.name, kind=registration.kind,
        area_code=registration.area_code, no_show_release=release, waitlist_limit=limit,
    )
    _send(producer, settings, command, BED_COMMANDS, registration.provider_id, engine=engine, once=caller.once)


def change_capacity(provider_id: str, change: CapacityFields, *, caller: Caller, engine: Engine,
                    producer: EventProducer, settings: Settings) -> None:
    provider = _provider(engine, provider_id)
    if not caller.runs(provider):
        raise BedsError(403, "only the organisation that runs this provider (or the council) may change its beds")
    command = CapacityChanged(**caller.envelope(provider_id), **change.model_dump())
    _send(producer, settings, command, BED_COMMANDS, provider_id, engine=engine, once=caller.once)


def request_bed(submission: BedRequestSubmission, *, caller: Caller, engine: Engine, producer: EventProducer,
                settings: Settings) -> RequestAccepted:
    first = tonight(caller.now, settings)
    night = submission.night or first
    if not first <= night <= first + timedelta(days=settings.bed_booking_days):
        raise BedsError(422, f"night must be between tonight ({first}) and {settings.bed_booking_days} nights ahead",
                        "night")
    _provider(engine, submission.provider_id)
    try:
        # A bed allocated makes the provider work with the person: asking for one is a write
        # about them, which needs the right to see them.
        writable(engine, caller.principal, submission.person_id, caller.now)
    except NotVisible:
        raise BedsError(404, "no such person for this organisation", "person_id") from None
    envelope = caller.envelope(submission.provider_id)
    # A client's request id is its own token: the platform's id derives from it and the
    # organisation, so it can never name, probe or collide with another organisation's request.
    request_id = (keyed_id(caller.principal.organisation, str(submission.request_id)) if submission.request_id
                  else envelope["id"])
    command = BedRequested(**{**envelope, "id": request_id}, person_id=submission.person_id, night=night,
                           bed_type=submission.bed_type)
    # Keyed by the person: their stage lets one request per night through to any provider. The
    # request id is the idempotency key: reused for another person, provider or night, it is
    # refused rather than silently ignored downstream.
    first = _send(producer, settings, command, BED_REQUESTS, str(submission.person_id), engine=engine,
                  once=(REQUEST_IDS, str(request_id)))
    return RequestAccepted(request_id=request_id, night=night, duplicate=not first)


# What each stay command needs the request to be now.
_NEEDS = {
    "bed.check_in": ("allocated",),
    "bed.no_show": ("allocated",),
    "bed.check_out": ("checked_in",),
    "bed.withdraw": ("allocated", "waitlisted"),
}


def record_stay(request_id: UUID, kind: str, *, caller: Caller, engine: Engine, producer: EventProducer,
                settings: Settings, check_out: CheckOut | None = None) -> UUID:
    """Send a stay command; its id comes back, and a refusal by the provider's stage (the stay
    changed after this check) shows under the request's `refused_commands` with that id."""
    row, provider = _visible_request(engine, request_id, caller)
    may = caller.runs(provider) or (kind == "bed.withdraw" and row.requested_by == caller.principal.organisation)
    if not may:
        raise BedsError(403, "only the provider's organisation (or the council) may record this")
    if row.status not in _NEEDS[kind]:
        raise BedsError(409, f"the request is {row.status}; {kind.removeprefix('bed.')} needs it to be "
                             f"{' or '.join(_NEEDS[kind])}")
    command = StayCommand(
        **caller.envelope(row.provider_id), type=kind, request_id=request_id, night=row.night,
        leave_reason=check_out.leave_reason if check_out else None,
    )
    _send(producer, settings, command, BED_COMMANDS, row.provider_id, engine=engine, once=caller.once)
    return command.id


def _request_row(engine: Engine, request_id: UUID) -> Any:
    with engine.connect() as connection:
        row = connection.execute(select(bed_requests).where(bed_requests.c.request_id == str(request_id))).first()
    if row is None:
        raise BedsError(404, "no decision recorded for this request (yet)")
    return row


# ---------------------------------------------------------------- the live picture


class BedRequestView(BaseModel):
    request_id: UUID
    person_id: UUID | None = Field(description="Null for a reader who may not see the person (the sharing policy)")
    provider_id: str
    night: date
    bed_type: BedType | None = Field(description=(
        "Null where the type would say what the reader may not see (no recourse to public funds: immigration)"))
    status: str
    bed: int | None
    waitlist_position: int | None
    reason: str | None
    leave_reason: str | None
    requested_by: str
    updated_at: datetime
    refused_commands: list[CommandRefused] = Field(
        [], description="Stay commands the provider could not apply after they were accepted, with why")


class ProviderView(BaseModel):
    provider_id: str
    organisation: str
    name: str
    kind: str
    area_code: str
    no_show_release: str
    waitlist_limit: int


class ProviderNight(ProviderView):
    beds: list[BedCount]
    capacity: int
    free: int
    occupied: int
    waitlisted: int


class Availability(BaseModel):
    """Beds on one night: per provider and bed type, and the totals per bed type."""

    night: date
    providers: list[ProviderNight]
    totals: list[BedCount]


def _visible_request(engine: Engine, request_id: UUID, caller: Caller) -> tuple[Any, Any]:
    """The request and its provider, if the caller's organisation asked for it or runs the
    provider (or is the council); for anyone else it does not exist (404, not 403: a request id
    must say nothing about others' requests)."""
    row = _request_row(engine, request_id)
    provider = _provider(engine, row.provider_id)
    if not (caller.runs(provider) or row.requested_by == caller.principal.organisation):
        raise BedsError(404, "no such bed request for this organisation")
    return row, provider


def get_request(engine: Engine, request_id: UUID, caller: Caller) -> BedRequestView:
    row, _provider_row = _visible_request(engine, request_id, caller)
    with engine.connect() as connection:
        refusals = connection.execute(
            select(bed_command_refusals).where(bed_command_refusals.c.request_id == str(request_id))
            .order_by(bed_command_refusals.c.refused_at)
        ).all()
    shown, = disclosed_bed_requests(engine, caller.principal, [row._mapping], caller.now,
                                    "GET /v1/beds/requests/{request_id}")
    return BedRequestView.model_validate({
        **shown,
        "refused_commands": [CommandRefused(command_id=r.command_id, request_id=r.request_id, command=r.command,
                                            reason=r.reason, at=r.refused_at) for r in refusals],
    })


def list_requests(engine: Engine, provider_id: str, night: date, caller: Caller) -> list[BedRequestView]:
    provider = _provider(engine, provider_id)
    if not caller.runs(provider):
        raise BedsError(403, "only the provider's organisation (or the council) may list who asked for its beds")
    with engine.connect() as connection:
        rows = connection.execute(
            select(bed_requests)
            .where(bed_requests.c.provider_id == provider_id, bed_requests.c.night == night)
            .order_by(bed_requests.c.status, bed_requests.c.bed, bed_requests.c.waitlist_position)
        ).all()
    shown = disclosed_bed_requests(engine, caller.principal, [row._mapping for row in rows], caller.now,
                                   "GET /v1/beds/providers/{provider_id}/requests")
    return [BedRequestView.model_validate(row) for row in shown]


def list_providers(engine: Engine) -> list[ProviderView]:
    with engine.connect() as connection:
        rows = connection.execute(select(bed_providers).order_by(bed_providers.c.provider_id)).all()
    return [ProviderView.model_validate(row, from_attributes=True) for row in rows]


def availability(engine: Engine, night: date, area_code: str | None = None,
                 bed_type: BedType | None = None) -> Availability:
    """Counts the agents published for the night; a night nothing has happened on yet is all free."""
    query = select(bed_providers).order_by(bed_providers.c.provider_id)
    if area_code:
        query = query.where(bed_providers.c.area_code == area_code)
    with engine.connect() as connection:
        providers = connection.execute(query).all()
        counted = connection.execute(select(bed_nights).where(bed_nights.c.night == night)).all()
    published = {(row.provider_id, row.bed_type): BedCount.model_validate(row, from_attributes=True)
                 for row in counted}
    result: list[ProviderNight] = []
    totals: dict[BedType, list[int]] = {}
    for provider in providers:
        windows = tuple(CapacityWindow.model_validate(w) for w in provider.capacity)
        types = {w.bed_type for w in windows if w.covers(night)}
        types |= {BedType(t) for (p, t) in published if p == provider.provider_id}
        beds = []
        for kind in sorted(types):
            if bed_type is not None and kind is not bed_type:
                continue
            count = published.get((provider.provider_id, kind.value))
            if count is None:
                cap = capacity_of(windows, night, kind)
                count = BedCount(bed_type=kind, capacity=cap, allocated=0, checked_in=0, free=cap, waitlisted=0)
            beds.append(count)
            total = totals.setdefault(kind, [0, 0, 0, 0, 0])
            for i, value in enumerate((count.capacity, count.allocated, count.checked_in, count.free,
                                       count.waitlisted)):
                total[i] += value
        if bed_type is not None and not beds:
            continue
        result.append(ProviderNight(
            **ProviderView.model_validate(provider, from_attributes=True).model_dump(),
            beds=beds,
            capacity=sum(b.capacity for b in beds),
            free=sum(b.free for b in beds),
            occupied=sum(b.allocated + b.checked_in for b in beds),
            waitlisted=sum(b.waitlisted for b in beds),
        ))
    return Availability(
        night=night,
        providers=result,
        totals=[BedCount(bed_type=k, capacity=t[0], allocated=t[1], checked_in=t[2], free=t[3], waitlisted=t[4])
                for k, t in sorted(totals.items())],
    )
