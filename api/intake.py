"""Accepting a submission: idempotency, the event envelope, and the produce that must be acked."""

from __future__ import annotations

import hashlib
from datetime import datetime
from uuid import UUID, uuid4

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from api.producer import EventProducer
from journey.identity import resolve_person
from readmodel.keys import Principal
from readmodel.tables import submissions
from schemas.events import Event, encode_event
from schemas.ids import keyed_id
from schemas.settings import Settings
from schemas.submissions import Accepted, Submission
from schemas.topics import INTAKE


class IdempotencyConflict(ValueError):
    """The key was used before for a different submission."""


def build_event(submission: Submission, *, event_id: UUID, principal: Principal, now: datetime) -> Event:
    """The envelope around a submission: who, when, and the personal part kept apart."""
    return submission.event_class(
        id=event_id,
        type=submission.event_type(),
        source=principal.organisation,
        actor=principal.member_id,
        subject=submission.person_id,
        time=submission.occurred_at,
        recorded_at=now,
        data=submission.details,
        personal=submission.personal,
    )


def submit(
    submission: Submission,
    *,
    idempotency_key: str | None,
    principal: Principal,
    engine: Engine,
    producer: EventProducer,
    settings: Settings,
    now: datetime,
    topic: str = INTAKE,
    partition_key: bytes | None = None,
) -> Accepted:
    """Put the event in Kafka once, however often the same submission arrives: on intake, keyed
    by the person it is about, unless another topic and key are given."""
    once = idempotency_key or (str(submission.event_id) if submission.event_id else None)
    if once is None:
        event_id = uuid4()
    else:
        # The client's id is its own token: the stored id is derived from it and the organisation,
        # so an id another organisation chose can never name (or overwrite) this organisation's event.
        event_id = keyed_id(principal.organisation, once)
        earlier_id = claim(engine, principal.organisation, once, event_id, _fingerprint(submission), now)
        if earlier_id is not None:
            return Accepted(event_id=earlier_id, person_id=resolve_person(submission.person_id, earlier_id),
                            duplicate=True)
    # Keyed by the person the event will be about (a new provisional person's id is derived
    # from this event), so that a report and the contacts that follow it share a partition
    # and reach the identity step in the order they were accepted.
    person_id = resolve_person(submission.person_id, event_id)
    event = build_event(submission, event_id=event_id, principal=principal, now=now)
    producer.publish(settings.topic(topic), partition_key or str(person_id).encode(), encode_event(event))
    if once is not None:
        produced(engine, principal.organisation, once)
    return Accepted(event_id=event_id, person_id=person_id)


def _fingerprint(submission: Submission) -> str:
    # What the API filled in itself (an identity decision's time is when it was accepted) is not
    # part of what the client asked: a retry under the same key is the same request.
    body = submission.model_dump_json(exclude=set(submission.set_by_api))
    return fingerprint(f"{type(submission).__name__}:{body}")


def fingerprint(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def claim(engine: Engine, organisation: str, key: str, event_id: UUID, body_sha256: str,
          now: datetime) -> UUID | None:
    """Record that `key` stands for `event_id` and this body. Returns the earlier id when the key
    was used before for the same body and its produce was acknowledged (nothing is to be sent
    again); None when this call must produce. A key used before for another body is refused."""
    try:
        with engine.begin() as connection:
            connection.execute(
                submissions.insert().values(
                    organisation=organisation,
                    idempotency_key=key,
                    event_id=str(event_id),
                    request_sha256=body_sha256,
                    produced=0,
                    created_at=now,
                )
            )
        return None
    except IntegrityError:
        pass
    with engine.connect() as connection:
        row = connection.execute(
            select(submissions).where(submissions.c.organisation == organisation, submissions.c.idempotency_key == key)
        ).one()
    if row.request_sha256 != body_sha256:
        raise IdempotencyConflict("this idempotency key was used for a different submission")
    if not row.produced:
        # An earlier attempt was claimed but not acknowledged by Kafka: produce it again under the
        # same id; downstream, the id makes a second copy harmless.
        return None
    return UUID(row.event_id)


def produced(engine: Engine, organisation: str, key: str) -> None:
    """Kafka acknowledged what `key` stands for: retries now get the first answer back."""
    with engine.begin() as connection:
        connection.execute(
            update(submissions)
            .where(submissions.c.organisation == organisation, submissions.c.idempotency_key == key)
            .values(produced=1)
        )
