"""Sending to Kafka from the API: the one envelope of every event and bed command the API builds,
and the one way to send a message once however often the same request arrives."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from api.producer import EventProducer
from journey.identity import resolve_person
from readmodel.data_keys import keyring
from readmodel.keys import Principal
from readmodel.tables import submissions
from schemas.events import Event, encode_event
from schemas.ids import keyed_id
from schemas.settings import Settings
from schemas.submissions import Accepted, Submission
from schemas.topics import INTAKE


class IdempotencyConflict(ValueError):
    """The key was used before for a different submission."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who sends, when, and under which id. Under a client's token (an Idempotency-Key or the
    client's own id for what it sends) the id is the same on every retry, so a copy sent twice is
    one message downstream, and never another organisation's, whatever token it chooses; without
    one, a new id."""

    id: UUID
    source: str
    actor: str
    time: datetime
    token: str | None = None

    @classmethod
    def of(cls, principal: Principal, now: datetime, token: str | None) -> Envelope:
        message_id = keyed_id(principal.organisation, token) if token else uuid4()
        return cls(message_id, principal.organisation, principal.member_id, now, token)

    @property
    def once(self) -> tuple[str, str] | None:
        """The (scope, token) a send is claimed under, if the client gave a token."""
        return (self.source, self.token) if self.token else None


def build_event(submission: Submission, envelope: Envelope) -> Event:
    """The event of a submission: the envelope, the time it happened, and the personal part kept
    apart."""
    return submission.event_class(
        id=envelope.id,
        type=submission.event_type(),
        source=envelope.source,
        actor=envelope.actor,
        subject=submission.person_id,
        time=submission.occurred_at,
        recorded_at=envelope.time,
        data=submission.details,
        personal=submission.personal,
    )


def send_once(engine: Engine, producer: EventProducer, topic: str, key: bytes, value: bytes, *, message_id: UUID,
              once: tuple[str, str] | None, body_sha256: str, now: datetime) -> UUID | None:
    """Put a message in Kafka (acks=all), once per `once` (scope, token) if given: a retry of a
    send Kafka acknowledged sends nothing and gets the first message's id back; a retry of one it
    did not is sent again under the same id (downstream keeps one); the same token with another
    body is refused (IdempotencyConflict). None when this call sent it."""
    if once is not None:
        earlier = claim(engine, *once, message_id, body_sha256, now)
        if earlier is not None:
            return earlier
    producer.publish(topic, key, value)
    if once is not None:
        produced(engine, *once)
    return None


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
    # The client's id is its own token: the stored id is derived from it and the organisation,
    # so an id another organisation chose can never name (or overwrite) this organisation's event.
    envelope = Envelope.of(principal, now, idempotency_key or (str(submission.event_id) if submission.event_id
                                                              else None))
    # Keyed by the person the event will be about (a new provisional person's id is derived
    # from this event), so that a report and the contacts that follow it share a partition
    # and reach the identity step in the order they were accepted.
    person_id = resolve_person(submission.person_id, envelope.id)
    # Sealed before it leaves the API: Kafka and everything after it hold only the boxes.
    event = keyring(engine).seal(build_event(submission, envelope), person_id, now,
                                 new_person=submission.person_id is None)
    earlier = send_once(engine, producer, settings.topic(topic), partition_key or str(person_id).encode(),
                        encode_event(event), message_id=envelope.id, once=envelope.once,
                        body_sha256=_fingerprint(submission), now=now)
    if earlier is not None:
        return Accepted(event_id=earlier, person_id=resolve_person(submission.person_id, earlier), duplicate=True)
    return Accepted(event_id=envelope.id, person_id=person_id)


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
