"""The board's month's flow is worked out once for every API process, only when a board asked,
at most once a minute, by one worker at a time (readmodel/board.py), on a SQLite read model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from readmodel.board import claim, keep, kept_flow
from readmodel.database import read_model
from schemas.settings import Settings

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
FRESH = timedelta(seconds=60)
WORKING = timedelta(minutes=2)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return read_model(Settings(state_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'rm.db'}"))


def test_nothing_is_worked_out_until_a_board_asks(engine: Engine) -> None:
    assert not claim(engine, NOON, WORKING)
    assert kept_flow(engine, NOON, FRESH) is None  # the first board: nothing yet, and it asks
    assert claim(engine, NOON + timedelta(seconds=1), WORKING)


def test_one_worker_at_a_time_and_one_working_out_a_minute(engine: Engine) -> None:
    kept_flow(engine, NOON, FRESH)
    assert claim(engine, NOON, WORKING)
    assert not claim(engine, NOON, WORKING), "a second worker while the first works it out"
    assert kept_flow(engine, NOON + timedelta(seconds=5), FRESH) is None  # still the first: given nothing
    keep(engine, {"active": 7}, NOON)
    assert not claim(engine, NOON + timedelta(seconds=6), WORKING), "nobody asked since"
    for later in (10, 30, 59):  # boards within the minute read it and ask for nothing
        assert kept_flow(engine, NOON + timedelta(seconds=later), FRESH) == {"active": 7}
        assert not claim(engine, NOON + timedelta(seconds=later), WORKING)
    assert kept_flow(engine, NOON + timedelta(seconds=61), FRESH) == {"active": 7}  # the last meanwhile
    assert claim(engine, NOON + timedelta(seconds=62), WORKING)
    keep(engine, {"active": 8}, NOON + timedelta(seconds=62))
    assert kept_flow(engine, NOON + timedelta(seconds=63), FRESH) == {"active": 8}


def test_a_claim_of_a_worker_that_failed_lapses(engine: Engine) -> None:
    kept_flow(engine, NOON, FRESH)
    assert claim(engine, NOON, WORKING)  # and this worker dies before keeping anything
    assert not claim(engine, NOON + WORKING - timedelta(seconds=1), WORKING)
    assert claim(engine, NOON + WORKING + timedelta(seconds=1), WORKING)
