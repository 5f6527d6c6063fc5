"""The migrations build exactly the tables readmodel/tables.py declares, and bring an older
database (made before migrations, or at an earlier revision) up to date without losing rows."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from readmodel.database import _MIGRATIONS, connect
from readmodel.keys import authenticate
from readmodel.tables import metadata


def _differences(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), metadata)


def test_the_migrations_make_what_the_tables_declare(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    connect(url).dispose()
    assert _differences(url) == []


def _at(url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    engine = create_engine(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_a_database_from_before_migrations_is_taken_as_the_baseline_and_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _at(url, "0001")
    old = create_engine(url)
    with old.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))  # as the hand-made schema left it
        connection.execute(text(
            "INSERT INTO journeys (person_id, sequence, stage, reports, contacts, rough_sleeping_nights, "
            "emergency_bed_nights, provisional, updated_at) VALUES ('p1', 1, 'reported', 1, 0, 0, 0, 1, "
            "'2026-01-01 00:00:00.000000')"))
        connection.execute(text(
            "INSERT INTO api_keys (key_id, secret_sha256, organisation, role, created_at) VALUES "
            "('k1', 'x', 'the-brick', 'charity', '2026-01-01 00:00:00.000000')"))
    connect(url).dispose()
    assert _differences(url) == []
    with old.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM journeys")).scalar_one() == 1
        assert "member_id" in {c["name"] for c in inspect(connection).get_columns("api_keys")}
    # A key from before members existed no longer opens anything: it must be issued again.
    assert authenticate(connect(url), "jk_k1_secret", datetime.now(UTC)) is None


def _connect(url: str, together: Any) -> None:
    together.wait()  # every process imported and ready: they migrate at the same moment
    connect(url).dispose()


def test_processes_starting_together_migrate_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'together.db'}"
    context = multiprocessing.get_context("spawn")
    together = context.Barrier(4)
    starting = [context.Process(target=_connect, args=(url, together)) for _ in range(4)]
    for process in starting:
        process.start()
    for process in starting:
        process.join(60)
    assert [p.exitcode for p in starting] == [0, 0, 0, 0]
    assert _differences(url) == []
