"""Writing many rows to the read model fast, on SQLite and PostgreSQL alike: the worker's writes
(streams/projector.py) and the projections' own (readmodel/profiles.py, readmodel/statistics.py)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Connection, Date, Engine, Integer, String, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.expression import Executable

from readmodel.tables import JSONDocument, UTCDateTime, projections


def dialect_insert(engine: Engine) -> Any:
    return (postgresql if engine.dialect.name == "postgresql" else sqlite).insert


@lru_cache
def _upsert(dialect: str, table: Table, keys: tuple[str, ...], keep: tuple[str, ...]) -> Any:
    # Built once: making the statement and its cache key again for every small batch cost more
    # than the write itself.
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    fixed = {*keys, *keep}
    return insert.on_conflict_do_update(
        index_elements=[table.c[k] for k in keys],
        set_={c.name: insert.excluded[c.name] for c in table.columns if c.name not in fixed},
        where=table.c.sequence < insert.excluded.sequence,
    )


def upsert_newer(connection: Connection, table: Table, keys: list[str], rows: list[dict[str, Any]],
                 keep: tuple[str, ...] = ()) -> None:
    """Insert rows, or update them where the stored sequence is older (never roll back)."""
    if rows:
        write_many(connection, _upsert(connection.engine.dialect.name, table, tuple(keys), keep), rows)


def _sqlite_moment(value: datetime | None) -> str | None:
    # The text SQLAlchemy's SQLite DateTime stores (UTC, no offset), so its reads parse it.
    # In UTC, then cut before the offset: a third cheaper than dropping the zone and formatting.
    return None if value is None else value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def _sqlite_day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


@dataclass(frozen=True, slots=True)
class _ManyValues:
    """An insert as one statement for many rows (SQLite): the SQL before its VALUES group, the
    group, the SQL after it, and the parameters in the group's order."""

    head: str
    group: str
    tail: str
    order: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _DriverStatement:
    sql: str
    convert: tuple[tuple[str, Callable[[Any], Any]], ...]  # the parameters the driver cannot take as they are
    many_values: _ManyValues | None = None


def _many_values(statement: Insert, columns: tuple[str, ...]) -> _ManyValues | None:
    compiled = statement.compile(dialect=sqlite.dialect(paramstyle="qmark"), column_keys=list(columns))
    text, order = str(compiled), tuple(compiled.positiontup or ())
    group = "(" + ", ".join("?" * len(order)) + ")"
    if not order or text.count("?") != len(order) or text.count(group) != 1:
        return None  # parameters outside the one VALUES group: row by row
    head, tail = text.split(group)
    return _ManyValues(head, group, tail, order)


@lru_cache
def _for_driver(dialect: str, statement: Executable, columns: tuple[str, ...]) -> _DriverStatement:
    compiling = sqlite.dialect(paramstyle="named") if dialect == "sqlite" else postgresql.psycopg.dialect()
    # An insert names the columns the rows give, as SQLAlchemy's own executemany does: the others
    # take their defaults.
    compiled = statement.compile(dialect=compiling, column_keys=list(columns))  # type: ignore[attr-defined]
    convert = []
    for name, bind in compiled.binds.items():
        kind = bind.type
        if isinstance(kind, UTCDateTime):
            if dialect == "sqlite":
                convert.append((name, _sqlite_moment))
        elif isinstance(kind, Date):
            if dialect == "sqlite":
                convert.append((name, _sqlite_day))
        elif isinstance(kind, JSONDocument):
            pass  # JSON text already
        elif isinstance(kind, JSON):
            convert.append((name, _json_text))
        elif not isinstance(kind, String | Integer):
            raise TypeError(f"write_many cannot pass a {kind!r} parameter ({name}) to the driver")
    many = _many_values(statement, columns) if dialect == "sqlite" and isinstance(statement, Insert) else None
    return _DriverStatement(str(compiled), tuple(convert), many)


def write_many(connection: Connection, statement: Executable, rows: list[dict[str, Any]]) -> int:
    """Run a write for many rows, handing the rows to the database driver as they are; the rows
    it changed (an insert that did nothing on a conflict changed none).

    Why not `connection.execute(statement, rows)`: SQLAlchemy processes every value of every row
    through its type layers, a third of the projector's time. Here the statement is compiled once
    per dialect, and only the values the driver cannot take as they are are converted (on SQLite,
    times and days to the text SQLAlchemy itself stores, so reads through SQLAlchemy see no
    difference). The rows are changed in place.

    On SQLite an insert goes as few statements of many VALUES groups, not row by row: the driver
    lets go of the interpreter's lock around each statement it runs, and took it back after each
    row only once the worker's other thread gave it up (up to 5 ms later), so writing a batch
    took ten times its CPU. A row repeated within one statement is written as it would be by
    separate ones: SQLite inserts a statement's rows one after another."""
    if not rows:
        return 0
    plan = _for_driver(connection.dialect.name, statement, tuple(rows[0]))
    for name, convert in plan.convert:
        for row in rows:
            row[name] = convert(row[name])
    if plan.many_values is None:
        # Both drivers count an executemany's changes over all its rows.
        return connection.exec_driver_sql(plan.sql, rows).rowcount  # type: ignore[arg-type]
    many = plan.many_values
    driver = connection.connection.dbapi_connection
    # At most 256 rows a statement: each size of statement stays prepared in every connection's
    # cache, and one of 2,048 rows took 2.5 MB there; 256 rows already share each handover of the lock.
    most = min(256, driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(many.order))  # type: ignore[union-attr]
    start = changed = 0
    while start < len(rows):
        # Statements of a power of two rows: a handful of sizes, each prepared once and cached.
        count = 1 << (min(len(rows) - start, most).bit_length() - 1)
        chunk = rows[start:start + count]
        start += count
        sql = many.head + ", ".join([many.group] * count) + many.tail
        changed += connection.exec_driver_sql(sql, tuple(row[name] for row in chunk for name in many.order)).rowcount
    return changed


def mark_made(connection: Connection, name: str, made_for: str) -> None:
    """Record what a projection was made for (`projections`): a reader trusts it only as made for
    what it expects, and a worker makes it again when that changes."""
    insert = (postgresql if connection.dialect.name == "postgresql" else sqlite).insert(projections)
    connection.execute(insert.on_conflict_do_update(index_elements=[projections.c.name],
                                                    set_={"made_for": insert.excluded.made_for}),
                       {"name": name, "made_for": made_for})
