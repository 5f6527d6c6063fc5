"""Connecting to the read model (SQLite or PostgreSQL) and bringing it up to date with its
migrations (readmodel/migrations), once per process, whichever process connects first."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, text

from readmodel.data_keys import Keyring, attach, configured_kek
from readmodel.search_keys import secret as search_keys_secret
from schemas.settings import Settings


def connect(url: str, *, page_cache_mib: int | None = None) -> Engine:
    """An engine for the read model, with its tables created. `page_cache_mib`: SQLite's page
    cache for each connection, instead of its 2 MiB (the worker's writes insert into indexes of
    random ids: at 100,000 events 32 MiB took its CPU per event from ~350 µs to ~300 µs)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets the API read while the projector writes. Switching a new database to WAL
            # can answer "locked" at once, without waiting out the busy timeout, while another
            # process switches it too (the API and the worker starting together): try again.
            cursor = dbapi_connection.cursor()
            for attempt in range(100):
                try:
                    cursor.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError:
                    if attempt == 99:
                        raise
                    time.sleep(0.05)
            cursor.execute("PRAGMA synchronous=NORMAL")
            if page_cache_mib:
                cursor.execute(f"PRAGMA cache_size=-{int(page_cache_mib) * 1024}")
            cursor.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    migrate(engine)
    return engine


def read_model(settings: Settings, *, page_cache_mib: int | None = None) -> Engine:
    """The read model the settings name, with the keyring its personal parts are opened with."""
    engine = connect(settings.resolved_database_url, page_cache_mib=page_cache_mib)
    keys = Keyring(engine, configured_kek(settings), ttl=settings.data_key_cache_s)
    attach(engine, keys)
    # Made (or read) now, in a transaction of its own: the projector needs it inside its own.
    search_keys_secret(keys, datetime.now(UTC))
    return engine


_MIGRATIONS = Path(__file__).parent / "migrations"
_BASELINE = "0001"


def migrate(engine: Engine) -> None:
    """Bring the database to the newest migration (readmodel/migrations/versions). A database made
    before migrations were Alembic's (its tables there, no version) is taken to be the baseline."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.connect() as connection:
        # One process migrates at a time (the API and the worker may start together): the
        # others wait, then find the database at head.
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.execute(text("SELECT pg_advisory_xact_lock(7346021)"))
        config.attributes["connection"] = connection
        tables = set(inspect(connection).get_table_names())
        if "journeys" in tables and "alembic_version" not in tables:
            command.stamp(config, _BASELINE)
        command.upgrade(config, "head")
        connection.commit()
