"""Submissions into events: the one envelope of every event and bed command the API builds, and
a submission's event sealed and sent once (api/producer.py) however often it arrives."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID, uuid4

from anyio import from_thread
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.producer import EventProducer
from journey.identity import resolve_person
from readmodel.data_keys import Keyring, keyring
from readmodel.keys import Principal
from schemas.events import Event, encode_event
from schemas.ids import keyed_id
from schemas.settings import Settings
from schemas.submissions import Accepted, Submission
from schemas.topics import INTAKE

log = logging.getLogger("journeys.intake")


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


async def submit(
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
    by the person it is about, unless another topic and key are given. (A route that runs in a
    worker thread calls it through anyio's `from_thread.run`.)"""
    # The client's id is its own token: the stored id is derived from it and the organisation,
    # so an id another organisation chose can never name (or overwrite) this organisation's event.
    envelope = Envelope.of(principal, now, idempotency_key or (str(submission.event_id) if submission.event_id
                                                              else None))
    # Keyed by the person the event will be about (a new provisional person's id is derived
    # from this event), so that a report and the contacts that follow it share a partition
    # and reach the identity step in the order they were accepted.
    person_id = resolve_person(submission.person_id, envelope.id)
    # Sealed before it leaves the API: Kafka and everything after it hold only the boxes.
    # In the event loop when its keys are in memory; in a thread when the keyring must read or
    # write its table (a key not used lately, a refill of the pool).
    keys, event, new_person = keyring(engine), build_event(submission, envelope), submission.person_id is None
    seal = partial(keys.seal, event, person_id, now, new_person=new_person)
    in_memory = keys.seals_from_memory(event, person_id, new_person=new_person)
    sealed = seal() if in_memory else await run_in_threadpool(seal)
    _keep_keys_ready(keys, now)
    earlier = await producer.send_once(settings.topic(topic), partition_key or str(person_id).encode(),
                                       encode_event(sealed), message_id=envelope.id, once=envelope.once,
                                       body_sha256=_fingerprint(submission), now=now)
    if earlier is not None:
        return Accepted(event_id=earlier, person_id=resolve_person(submission.person_id, earlier), duplicate=True)
    return Accepted(event_id=envelope.id, person_id=person_id)


# The keyrings whose upkeep runs now, one at a time each (by the keyring's id: it is not hashable).
_UPKEEP: dict[int, asyncio.Task[None]] = {}


def _keep_keys_ready(keys: Keyring, now: datetime) -> None:
    """Refill the pool of new keys and write where they went in the background, before a
    submission would have to wait for it (readmodel/data_keys.Keyring.upkeep_due)."""
    if id(keys) in _UPKEEP or not keys.upkeep_due():
        return
    task = asyncio.get_running_loop().create_task(run_in_threadpool(keys.upkeep, now))
    _UPKEEP[id(keys)] = task

    def done(finished: asyncio.Task[None]) -> None:
        _UPKEEP.pop(id(keys), None)
        if not finished.cancelled() and (error := finished.exception()) is not None:
            # The next submission tries again; one that finds the pool empty refills it itself.
            log.warning("the data keys' upkeep failed: %s", type(error).__name__)

    task.add_done_callback(done)


def submit_from_thread(submission: Submission, **how: Any) -> Accepted:
    """`submit` for a route that runs in a worker thread (a page's form)."""
    return from_thread.run(partial(submit, submission, **how))


def _fingerprint(submission: Submission) -> str:
    # What the API filled in itself (an identity decision's time is when it was accepted) is not
    # part of what the client asked: a retry under the same key is the same request.
    body = submission.model_dump_json(exclude=set(submission.set_by_api))
    return fingerprint(f"{type(submission).__name__}:{body}")


def fingerprint(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()
