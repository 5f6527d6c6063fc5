"""Keys checked against rows at most a second old (readmodel/keys.py KeyCheck), on a real SQLite
read model with the clock injected: a revocation elsewhere holds within a second, here at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event

from readmodel.database import read_model
from readmodel.keys import KeyCheck, Role, issue_key, key_id_of, revoke_key
from schemas.settings import Settings

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_kept_key_costs_no_read_its_secret_is_still_checked_and_a_revocation_holds_within_a_second(
        tmp_path: Path) -> None:
    engine = read_model(Settings(state_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'rm.db'}"))
    key = issue_key(engine, organisation="brick", role=Role.CHARITY, now=NOON)
    clock = [0.0]
    here, elsewhere = KeyCheck(lambda: engine, clock=lambda: clock[0]), KeyCheck(lambda: engine, clock=lambda: clock[0])
    reads: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: reads.append(args[2]))
    assert here.known(key, NOON) is False, "not kept yet"
    assert asyncio.run(here.check(key, NOON)).organisation == "brick"
    assert asyncio.run(elsewhere.check(key, NOON)) is not None
    reads.clear()
    assert here.known(key, NOON).organisation == "brick" and reads == []
    assert here.known(key[:-1] + ("x" if key[-1] != "x" else "y"), NOON) is None, "a wrong secret, from memory"
    assert here.known(key, NOON + timedelta(days=400)) is not None, "no expiry was set"
    # Revoked through `here`'s process: it forgets at once; the other process within a second.
    revoke_key(engine, key_id_of(key), NOON)
    here.forget()
    assert here.known(key, NOON) is False and asyncio.run(here.check(key, NOON)) is None
    clock[0] = 0.99
    assert elsewhere.known(key, NOON) is not None, "within the second, the kept row still answers"
    clock[0] = 1.0
    assert elsewhere.known(key, NOON) is False and asyncio.run(elsewhere.check(key, NOON)) is None
    engine.dispose()


def test_an_expired_key_fails_at_once_even_when_kept(tmp_path: Path) -> None:
    engine = read_model(Settings(state_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'rm.db'}"))
    key = issue_key(engine, organisation="brick", role=Role.CHARITY, now=NOON, expires_at=NOON + timedelta(hours=1))
    check = KeyCheck(lambda: engine, clock=lambda: 0.0)
    assert asyncio.run(check.check(key, NOON)) is not None
    assert check.known(key, NOON + timedelta(hours=1)) is None
    engine.dispose()


def test_requests_finding_a_keys_row_stale_together_wait_for_one_read(tmp_path: Path) -> None:
    """Each request that found the row stale read it again in a thread of its own: at several
    hundred requests a second, dozens at once every second. Now one read answers all of them,
    and a revocation made here meanwhile is not undone by it."""
    engine = read_model(Settings(state_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'rm.db'}"))
    key = issue_key(engine, organisation="brick", role=Role.CHARITY, now=NOON)
    check = KeyCheck(lambda: engine, clock=lambda: 0.0)
    reads: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: reads.append(args[2]))

    async def together() -> list[object]:
        return await asyncio.gather(*(check.check(key, NOON) for _ in range(50)))

    answers = asyncio.run(together())
    assert all(a is not None and a.organisation == "brick" for a in answers)  # type: ignore[attr-defined]
    assert len(reads) == 1, reads
    reads.clear()
    assert asyncio.run(check.check(key, NOON)) is not None and reads == [], "kept for the second"
    revoke_key(engine, key_id_of(key), NOON)
    check.forget()
    assert asyncio.run(check.check(key, NOON)) is None, "forgotten here: read again, revoked"
    engine.dispose()
