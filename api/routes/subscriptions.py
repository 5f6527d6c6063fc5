"""Partners subscribe to journey updates: signed webhooks (Standard Webhooks, CloudEvents payloads)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from api.deps import EngineDep, SettingsDep, allow
from journey.delivery import RETRY_AFTER, Scope, Wanted
from journey.policy import MAY_READ_PEOPLE, event_families
from readmodel import subscriptions as stored
from readmodel.keys import Principal, Role
from readmodel.sharing import told_people
from readmodel.tables import deliveries, delivery_attempts, subscriptions
from schemas.common import AreaCode, IsoText, Strict
from schemas.progress import Stage
from schemas.webhooks.targets import Targets, url_refused

router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"])

SUBSCRIBERS = allow(*(role for role in Role if role in MAY_READ_PEOPLE))
Family = Literal[tuple(event_families())]  # type: ignore[valid-type]
_SCHEDULE = ", ".join(f"{int(d.total_seconds())} s" for d in RETRY_AFTER)


class NewSubscription(Strict):
    """What a partner asks to be sent. The sharing policy decides, at each delivery, what of each
    update the organisation may see; an update that would show it nothing is not sent."""

    url: Annotated[str, IsoText, Field(max_length=2000, description=(
        "Where to POST each delivery: https, or (in development, WEBHOOK_ALLOW_LOOPBACK_HTTP) http to 127.0.0.1 "
        "or localhost"))]
    families: list[Family] = Field(default_factory=list, max_length=20,  # type: ignore[valid-type]
                                   description="Event families (report, contact, bed, ...); empty: all")
    stages: list[Stage] = Field(default_factory=list, max_length=20, description="Stages after the event; empty: all")
    areas: list[AreaCode] = Field(default_factory=list, max_length=100, description="Areas of the event; empty: all")
    scope: Scope = Field(Scope.RELATED, description=(
        "related: the people the organisation works with (default); all: everyone its type may see anything of"))


class SubscriptionView(BaseModel):
    subscription_id: str
    url: str
    families: list[str]
    stages: list[str]
    areas: list[str]
    scope: Scope
    status: Literal["active", "paused", "disabled"]
    status_reason: str | None
    created_by: str
    created_at: datetime
    changed_at: datetime
    previous_secret_until: datetime | None = Field(None, description="Until then the old secret also signs")


class SubscriptionMade(SubscriptionView):
    secret: str = Field(description="Standard Webhooks signing secret (whsec_...): shown once, keep it safe")


class SecretRotated(BaseModel):
    secret: str = Field(description="The new signing secret: shown once")
    previous_secret_until: datetime


class Attempt(BaseModel):
    at: datetime
    status_code: int | None = Field(description="The endpoint's HTTP status; null when it did not answer")
    error: str | None = Field(description="What went wrong without an answer, coarsely: timeout, connect, tls, "
                                            "protocol or refused-address (its name resolved to an internal address)")
    answer: Literal["delivered", "retry", "failed", "gone"]
    took_ms: int


class DeliveryView(BaseModel):
    delivery_id: str = Field(description="The webhook-id: the same on every try")
    person_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "failed", "withheld", "cancelled"] = Field(
        description="withheld: the policy let the organisation see nothing of it when it was due, so nothing was sent")
    attempts: int
    next_try_at: datetime | None
    created_at: datetime
    done_at: datetime | None
    tried: list[Attempt]


class Replay(Strict):
    since: AwareDatetime = Field(description="Every update recorded since then (at most 30 days back) is sent again")


class Replayed(BaseModel):
    deliveries: int = Field(description=f"Deliveries made (at most {stored.REPLAY_LIMIT})")


def _view(row: Any) -> dict[str, Any]:
    """A row of the subscriptions table as the API shows it (never its secrets)."""
    wanted = stored.wanted_of(row)
    return {
        "subscription_id": row.subscription_id, "url": row.url, "families": sorted(wanted.families),
        "stages": sorted(wanted.stages), "areas": sorted(wanted.areas), "scope": wanted.scope, "status": row.status,
        "status_reason": row.status_reason, "created_by": row.created_by, "created_at": row.created_at,
        "changed_at": row.changed_at, "previous_secret_until": row.previous_until,
    }


def _owned(engine: EngineDep, principal: Principal, subscription_id: str) -> Any:
    row = stored.find(engine, principal.organisation, subscription_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such subscription")
    return row


ABOUT_DELIVERY = f"""Subscribe the caller's organisation to journey updates.

Each update is POSTed to `url` as a CloudEvents 1.0 JSON event, signed as Standard Webhooks
(`webhook-id`, `webhook-timestamp`, `webhook-signature`; verify with the `secret`). One
person's updates arrive in order. A network error, a timeout (WEBHOOK_TIMEOUT_S), 408, 429 or
5xx is tried again after {_SCHEDULE} (each with up to a fifth more at random); 410 disables the
subscription; any other answer is recorded as failed and not tried again."""


@router.post("", status_code=status.HTTP_201_CREATED, description=ABOUT_DELIVERY)
def post_subscription(new: NewSubscription, engine: EngineDep, settings: SettingsDep,
                      principal: Principal = SUBSCRIBERS) -> SubscriptionMade:
    refused = url_refused(new.url, Targets(loopback_http=settings.webhook_allow_loopback_http,
                                           private=settings.webhook_allow_private))
    if refused:
        raise HTTPException(422,
                            [{"loc": ["body", "url"], "msg": refused, "type": "value_error"}])
    now = datetime.now(UTC)
    wanted = Wanted(families=frozenset(new.families), stages=frozenset(s.value for s in new.stages),
                    areas=frozenset(new.areas), scope=new.scope)
    subscription_id, secret = stored.create(engine, organisation=principal.organisation, member_id=principal.member_id,
                                            url=new.url, wanted=wanted, now=now)
    return SubscriptionMade(**_view(stored.find(engine, principal.organisation, subscription_id)), secret=secret)


@router.get("")
def get_subscriptions(engine: EngineDep, principal: Principal = SUBSCRIBERS) -> list[SubscriptionView]:
    """The caller's organisation's subscriptions (never another's)."""
    with engine.connect() as connection:
        rows = connection.execute(select(subscriptions).where(
            subscriptions.c.organisation == principal.organisation, subscriptions.c.status != "deleted")
            .order_by(subscriptions.c.created_at)).all()
    return [SubscriptionView(**_view(row)) for row in rows]


@router.get("/{subscription_id}")
def get_subscription(subscription_id: str, engine: EngineDep, principal: Principal = SUBSCRIBERS) -> SubscriptionView:
    return SubscriptionView(**_view(_owned(engine, principal, subscription_id)))


def _changed(engine: EngineDep, principal: Principal, subscription_id: str, to: str,
             reason: str | None) -> SubscriptionView:
    _owned(engine, principal, subscription_id)
    stored.set_status(engine, subscription_id, to, reason, datetime.now(UTC))
    return SubscriptionView(**_view(_owned(engine, principal, subscription_id)))


@router.post("/{subscription_id}/pause")
def pause(subscription_id: str, engine: EngineDep, principal: Principal = SUBSCRIBERS) -> SubscriptionView:
    """Hold deliveries: updates are still collected and sent, in order, on resume."""
    return _changed(engine, principal, subscription_id, "paused", f"paused by {principal.member_id}")


@router.post("/{subscription_id}/resume")
def resume(subscription_id: str, engine: EngineDep, principal: Principal = SUBSCRIBERS) -> SubscriptionView:
    """Deliver again: what was collected while paused, then what comes. Also re-enables a
    subscription its endpoint disabled with 410 (what was pending then is not sent: replay it)."""
    return _changed(engine, principal, subscription_id, "active", None)


@router.post("/{subscription_id}/secret")
def rotate_secret(subscription_id: str, engine: EngineDep, principal: Principal = SUBSCRIBERS) -> SecretRotated:
    """A new signing secret. For 24 hours each delivery carries two signatures (new and old),
    so that the receiver can switch to the new secret when it is ready."""
    _owned(engine, principal, subscription_id)
    secret, until = stored.rotate(engine, subscription_id, datetime.now(UTC))
    return SecretRotated(secret=secret, previous_secret_until=until)


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_subscription(subscription_id: str, engine: EngineDep, principal: Principal = SUBSCRIBERS) -> Response:
    """Stop the subscription: nothing pending is sent (the deliverer sees it within WEBHOOK_POLL_S)."""
    _owned(engine, principal, subscription_id)
    with engine.begin() as connection:
        stored.stop(connection, subscription_id, "deleted", f"deleted by {principal.member_id}", datetime.now(UTC))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{subscription_id}/deliveries")
def get_deliveries(subscription_id: str, engine: EngineDep, principal: Principal = SUBSCRIBERS,
                   state: Annotated[Literal["pending", "delivered", "failed", "withheld", "cancelled"] | None,
                                    Query(alias="status")] = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[DeliveryView]:
    """The newest deliveries first, each with its attempts: only those about people the
    organisation may be told about now (pushes follow reads; each person listed is audited).
    Withheld deliveries (the policy showed the organisation nothing when they were due) are
    counted in the subscription's figures, never listed."""
    subscription = _owned(engine, principal, subscription_id)
    where = [deliveries.c.subscription_id == subscription_id, deliveries.c.status != "withheld"]
    if state:
        where.append(deliveries.c.status == state)
    with engine.connect() as connection:
        rows = connection.execute(select(deliveries).where(*where).order_by(deliveries.c.position.desc())
                                  .limit(limit)).all()
    now = datetime.now(UTC)
    shown = told_people(engine, principal.viewer, {r.person_id for r in rows}, now,
                        related_only=stored.wanted_of(subscription).scope is Scope.RELATED,
                        endpoint=f"GET /v1/subscriptions/{subscription_id}/deliveries")
    rows = [r for r in rows if r.person_id in shown]
    with engine.connect() as connection:
        attempts = connection.execute(select(delivery_attempts).where(
            delivery_attempts.c.delivery_id.in_([r.delivery_id for r in rows])).order_by(delivery_attempts.c.at)
        ).all() if rows else []
    tried: dict[str, list[Attempt]] = {}
    for a in attempts:
        tried.setdefault(a.delivery_id, []).append(Attempt.model_validate(a, from_attributes=True))
    return [DeliveryView(
        delivery_id=r.delivery_id, person_id=r.person_id, event_id=r.event_id, event_type=r.event_type,
        status=r.status, attempts=r.attempts, next_try_at=r.next_try_at if r.status == "pending" else None,
        created_at=r.created_at, done_at=r.done_at, tried=tried.get(r.delivery_id, []),
    ) for r in rows]


@router.post("/{subscription_id}/replay", status_code=status.HTTP_202_ACCEPTED)
def post_replay(subscription_id: str, replay: Replay, engine: EngineDep,
                principal: Principal = SUBSCRIBERS) -> Replayed:
    """Send again every update recorded since a time (after the partner's own outage), under new
    webhook-ids, each person's in order; what the policy lets the organisation see is decided
    again as each is sent."""
    now = datetime.now(UTC)
    if replay.since < now - timedelta(days=30) or replay.since > now:
        raise HTTPException(422, [{
            "loc": ["body", "since"], "msg": "since must be within the last 30 days", "type": "value_error"}])
    row = _owned(engine, principal, subscription_id)
    wanted = stored.wanted_of(row)

    def told(people: set[str]) -> frozenset[str]:
        return told_people(engine, principal.viewer, people, now, related_only=wanted.scope is Scope.RELATED)

    made = stored.replay(engine, subscription_id, wanted, replay.since, now, told=told)
    return Replayed(deliveries=made)

