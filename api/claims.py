"""Idempotency claims written together: what makes a submission sent once cost no database round
trip of its own.

A client's token (an Idempotency-Key, or its own id for what it sends) is claimed before the
message goes to Kafka, so that the same token with another body is refused and a retry of a
message Kafka acknowledged sends nothing. One claim a transaction, and a second transaction to
mark it acknowledged, held one API process to ~90 submissions a second on SQLite (every write
waits for the others). Here every claim made while a write runs waits for the next write, which
takes all of them in one transaction (the longer a write, the more the next one carries), and
Kafka's acknowledgements are recorded with the write after them.

An acknowledgement not yet written when the process stops only means that a retry under that
token is sent to Kafka again, under the same id: downstream keeps one (as for a retry of a
message Kafka did not acknowledge)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from readmodel.tables import submissions
from readmodel.writes import write_many

AT_ONCE = 500  # tokens one read names: well under every database's limit on parameters
# Written at least this often while acknowledgements wait and no claim comes to carry them.
ACKNOWLEDGED_WITHIN_S = 0.05
_row = submissions.c
# By organisation and token, the table's key: by token alone the database read every claim ever
# kept (SQLite scans a table for a key's second column), a cost growing with each submission.
_CLAIMED = select(submissions).where(_row.organisation == bindparam("scope"),
                                     _row.idempotency_key.in_(bindparam("tokens", expanding=True)))
# An organisation's acknowledged tokens in one statement: an update a row, as an executemany,
# was the claims thread's dearest statement (at 700 submissions/s, a third of its time).
_ACKNOWLEDGED = (update(submissions).where(_row.organisation == bindparam("scope"), _row.idempotency_key.in_(
    bindparam("tokens", expanding=True))).values(produced=1))


class IdempotencyConflict(ValueError):
    """The key was used before for a different submission."""


@dataclass(slots=True)
class _Claim:
    scope: str
    token: str
    event_id: UUID
    body_sha256: str
    now: datetime
    answer: Future[UUID | None] = field(default_factory=Future)


class Claims:
    """This process's claims, written by a thread of their own."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._pending: list[_Claim] = []
        self._acknowledged: list[tuple[str, str]] = []
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="journeys-claims", daemon=True)
        self._thread.start()

    def claim(self, scope: str, token: str, event_id: UUID, body_sha256: str, now: datetime) -> Future[UUID | None]:
        """Record that (scope, token) stands for `event_id` and this body. The answer: the earlier
        id when the token was used before for the same body and Kafka acknowledged it (nothing is
        to be sent again); None when the caller must send it (new, or claimed before but never
        acknowledged: sent again under the same id). IdempotencyConflict for another body."""
        claim = _Claim(scope, token, event_id, body_sha256, now)
        with self._lock:
            if self._stopping:
                raise RuntimeError("the API is stopping")
            self._pending.append(claim)
        self._wake.set()
        return claim.answer

    def acknowledged(self, scope: str, token: str) -> None:
        """Kafka acknowledged what (scope, token) stands for: retries get the first answer back."""
        with self._lock:
            self._acknowledged.append((scope, token))
        self._wake.set()

    def close(self) -> None:
        """Write what waits, then stop."""
        with self._lock:
            self._stopping = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self._wake.wait(ACKNOWLEDGED_WITHIN_S if self._acknowledged else None)
            with self._lock:
                self._wake.clear()
                claims, self._pending = self._pending, []
                acknowledged, self._acknowledged = self._acknowledged, []
                stopping = self._stopping
            if claims or acknowledged:
                self._write(claims, acknowledged)
            if stopping and not self._pending and not self._acknowledged:
                return

    def _write(self, claims: list[_Claim], acknowledged: list[tuple[str, str]]) -> None:
        try:
            answers = self._written(claims, acknowledged)
        except Exception as error:  # the database refused: every waiting request is told
            for claim in claims:
                claim.answer.set_exception(error)
            return
        for claim, answer in zip(claims, answers, strict=True):
            if isinstance(answer, Exception):
                claim.answer.set_exception(answer)
            else:
                claim.answer.set_result(answer)

    def _written(self, claims: list[_Claim], acknowledged: list[tuple[str, str]]) -> list[UUID | None | Exception]:
        with self._engine.begin() as connection:
            # Acknowledgements first: a retry claimed in this write sees its first send acknowledged.
            for scope, tokens in _by_scope(acknowledged):
                connection.execute(_ACKNOWLEDGED, {"scope": scope, "tokens": tokens})
            # Each token's row is inserted unless it is there. When every one was new, each claim
            # is answered "send it" with nothing read; otherwise every token's row is read: a row
            # with this body not acknowledged is as good as new (the message's id comes from the
            # token, so the same message is sent again at worst).
            inserted = write_many(connection, _new(connection.dialect.name), [
                {"organisation": c.scope, "idempotency_key": c.token, "event_id": str(c.event_id),
                 "request_sha256": c.body_sha256, "produced": 0, "created_at": c.now} for c in claims])
            if inserted == len(claims):
                return [None] * len(claims)
            rows: dict[tuple[str, str], Any] = {}
            for scope, tokens in _by_scope((c.scope, c.token) for c in claims):
                for found in connection.execute(_CLAIMED, {"scope": scope, "tokens": tokens}):
                    rows[(found.organisation, found.idempotency_key)] = found
        answers: list[UUID | None | Exception] = []
        for claim in claims:
            row = rows.get((claim.scope, claim.token))
            if row is None:  # gone at once (retention): sent, as new
                answers.append(None)
            elif row.request_sha256 != claim.body_sha256:
                answers.append(IdempotencyConflict("this idempotency key was used for a different submission"))
            else:
                answers.append(UUID(row.event_id) if row.produced else None)
        return answers


def _by_scope(pairs: Iterable[tuple[str, str]]) -> Iterator[tuple[str, list[str]]]:
    """(scope, token) pairs as each scope's distinct tokens, AT_ONCE at most a time."""
    tokens: dict[str, set[str]] = defaultdict(set)
    for scope, token in pairs:
        tokens[scope].add(token)
    for scope, theirs in tokens.items():
        ordered = sorted(theirs)
        for at in range(0, len(ordered), AT_ONCE):
            yield scope, ordered[at:at + AT_ONCE]


@lru_cache
def _new(dialect: str) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert(submissions).on_conflict_do_nothing()
