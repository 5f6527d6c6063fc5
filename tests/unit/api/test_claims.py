"""Idempotency claims written together (api/claims.py), on a real SQLite read model: what each
claim is answered, and that claims made at once share their writes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import event, select

from api.claims import Claims, IdempotencyConflict
from readmodel.database import read_model
from readmodel.tables import submissions
from schemas.settings import Settings
from tests.conftest import fresh_postgres_database

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def claims(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201
    # Both databases: a claim's answer rests on what the driver counts as inserted.
    url = (f"sqlite:///{tmp_path / 'rm.db'}" if request.param == "sqlite"
           else fresh_postgres_database(request.getfixturevalue("postgres_url"), "claims"))
    engine = read_model(Settings(state_dir=tmp_path, database_url=url))
    made = Claims(engine)
    yield made
    made.close()
    engine.dispose()


def test_a_token_is_sent_until_acknowledged_then_answered_and_another_body_refused(claims: Claims) -> None:
    first = uuid4()
    assert claims.claim("brick", "t1", first, "body-a", NOON).result(5) is None, "new: send it"
    assert claims.claim("brick", "t1", first, "body-a", NOON).result(5) is None, "not acknowledged: send again"
    claims.acknowledged("brick", "t1")
    assert claims.claim("brick", "t1", first, "body-a", NOON).result(5) == first, "acknowledged: the first id"
    with pytest.raises(IdempotencyConflict):
        claims.claim("brick", "t1", first, "body-b", NOON).result(5)
    # A token is the organisation's own: another organisation's same token is a claim of its own.
    assert claims.claim("police", "t1", uuid4(), "body-b", NOON).result(5) is None


def test_claims_made_at_once_share_their_writes_and_each_gets_its_own_answer(claims: Claims) -> None:
    commits: list[int] = []
    event.listen(claims._engine, "commit", lambda connection: commits.append(1))
    answers: dict[int, object] = {}
    start = threading.Barrier(100)

    def one(n: int) -> None:
        start.wait()
        token = f"t{n % 50}"  # fifty tokens, each claimed twice: once with its body, once with another
        try:
            answers[n] = claims.claim("brick", token, uuid4(), f"body-{n % 50}" if n < 50 else "other", NOON).result(5)
        except IdempotencyConflict:
            answers[n] = "conflict"

    threads = [threading.Thread(target=one, args=(n,)) for n in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(commits) < 50, f"{len(commits)} writes for 100 claims"
    # Whichever body came first owns the token; the other is refused.
    for n in range(50):
        assert sorted(map(str, (answers[n], answers[n + 50]))) == ["None", "conflict"], (n, answers[n], answers[n + 50])
    with claims._engine.connect() as connection:
        assert connection.execute(select(submissions.c.idempotency_key)).scalars().all().__len__() == 50


def test_acknowledgements_waiting_at_close_are_written(claims: Claims, tmp_path: Path) -> None:
    first = uuid4()
    assert claims.claim("brick", "t1", first, "body", NOON).result(5) is None
    claims.acknowledged("brick", "t1")
    claims.close()
    again = Claims(claims._engine)
    try:
        assert again.claim("brick", "t1", first, "body", NOON).result(5) == first
    finally:
        again.close()


def _statements(claims: Claims) -> list[tuple[str, object]]:
    run: list[tuple[str, object]] = []
    event.listen(claims._engine, "before_cursor_execute",
                 lambda connection, cursor, statement, parameters, *rest: run.append((statement, parameters)))
    return run


def test_claims_all_new_are_answered_without_reading_them_back(claims: Claims) -> None:
    """The common case (every token new) costs the insert alone; a token seen before is read."""
    run = _statements(claims)
    start = threading.Barrier(20)
    answers: list[object] = []

    def one(n: int) -> None:
        start.wait()
        answers.append(claims.claim("brick", f"new-{n}", uuid4(), "body", NOON).result(5))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [None] * 20
    assert not [s for s, _ in run if s.lstrip().upper().startswith("SELECT")], "new claims were read back"
    assert isinstance(claims.claim("brick", "new-3", uuid4(), "other body", NOON).exception(5), IdempotencyConflict)
    assert [s for s, _ in run if s.lstrip().upper().startswith("SELECT")], "a token seen before was not read"


@pytest.mark.parametrize("claims", ["sqlite"], indirect=True)  # SQLite's plans
def test_a_claim_reads_its_own_row_by_the_tables_key_not_every_claim_kept(claims: Claims) -> None:
    """By token alone, SQLite scanned every claim ever kept for each batch of claims (a cost that
    grew with each submission): the plan of every statement a claim runs uses the key."""
    run = _statements(claims)
    claims.claim("brick", "t1", uuid4(), "body-a", NOON).result(5)
    claims.acknowledged("brick", "t1")
    claims.claim("brick", "t1", uuid4(), "body-a", NOON).result(5)
    read = [(statement, parameters) for statement, parameters in run
            if statement.lstrip().startswith(("SELECT", "UPDATE"))]
    assert {statement.split()[0] for statement, _ in read} == {"SELECT", "UPDATE"}, "read back and acknowledged"
    with claims._engine.connect() as connection:
        for statement, parameters in read:
            plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", parameters))  # type: ignore[arg-type]
            assert "SCAN submissions" not in plan, plan
