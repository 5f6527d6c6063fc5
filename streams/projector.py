"""Writes applied events into the SQL read model, idempotently, one transaction per batch."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, Connection, Date, Engine, Integer, String, Table, bindparam, or_
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.expression import Executable

from journey.applied import Applied
from journey.statistics import Rules
from readmodel.erasure import forget_reporters
from readmodel.profiles import profile_updates
from readmodel.profiles import upsert as upsert_profiles
from readmodel.search_keys import new_keys
from readmodel.statistics import statistics_updates
from readmodel.tables import (
    JSONDocument,
    UTCDateTime,
    identity_decisions,
    journeys,
    referrals,
    sighting_reports,
    timeline_entries,
)
from schemas.events import ReferralRecorded, ReportProgressed, ReportReceived
from schemas.sealed import stored_form


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


def write_many(connection: Connection, statement: Executable, rows: list[dict[str, Any]]) -> None:
    """Run a write for many rows, handing the rows to the database driver as they are.

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
        return
    plan = _for_driver(connection.dialect.name, statement, tuple(rows[0]))
    for name, convert in plan.convert:
        for row in rows:
            row[name] = convert(row[name])
    if plan.many_values is None:
        connection.exec_driver_sql(plan.sql, rows)  # type: ignore[arg-type]
        return
    many = plan.many_values
    driver = connection.connection.dbapi_connection
    # At most 256 rows a statement: each size of statement stays prepared in every connection's
    # cache, and one of 2,048 rows took 2.5 MB there; 256 rows already share each handover of the lock.
    most = min(256, driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(many.order))  # type: ignore[union-attr]
    start = 0
    while start < len(rows):
        # Statements of a power of two rows: a handful of sizes, each prepared once and cached.
        count = 1 << (min(len(rows) - start, most).bit_length() - 1)
        chunk = rows[start:start + count]
        start += count
        sql = many.head + ", ".join([many.group] * count) + many.tail
        connection.exec_driver_sql(sql, tuple(row[name] for row in chunk for name in many.order))


_entry = timeline_entries.c
_ENTRY_FIXED = ("person_id", "type", "source", "occurred_at", "recorded_at", "data", "personal")
_MOVE_ENTRY = (
    sql_update(timeline_entries)
    .where(_entry.event_id == bindparam("id"), _entry.sequence < bindparam("new_sequence"))
    .values(sequence=bindparam("new_sequence"), stage=bindparam("new_stage"), summary=bindparam("new_summary"))
)
_report = sighting_reports.c
_this_report = _report.report_id == bindparam("report")
_REPORT_STEPS = {
    "report.routed": sql_update(sighting_reports).where(_this_report).values(
        team=bindparam("team_"), due_by=bindparam("due_")),
    # The first attempt counts for the response time, whatever order attempts arrive in.
    "report.attempted": sql_update(sighting_reports).where(
        _this_report, or_(_report.first_attempt_at.is_(None), _report.first_attempt_at > bindparam("at"))
    ).values(first_attempt_at=bindparam("at")),
    "report.outcome": sql_update(sighting_reports).where(_this_report).values(
        outcome=bindparam("outcome_"), outcome_at=bindparam("at")),
    "report.reporter_told": sql_update(sighting_reports).where(_this_report).values(
        reporter_told_at=bindparam("at")),
}


def project(engine: Engine, updates: Sequence[Applied], now: datetime, rules: Rules) -> None:
    """Store a batch of updates in a transaction of its own. Replaying any of them changes nothing."""
    if updates:
        with engine.begin() as connection:
            project_into(connection, updates, now, rules)


def _journey_row(update: Applied, now: datetime) -> dict[str, Any]:
    """The journeys row of a person's newest update (its JSON made once per history, not again)."""
    journey = update.journey
    return {
        "person_id": str(journey.person_id),
        "sequence": journey.sequence,
        "stage": journey.stage.value,
        "first_seen": journey.first_seen,
        "last_seen": journey.last_seen,
        "last_area": journey.last_area,
        "reports": journey.reports,
        "contacts": journey.contacts,
        "rough_sleeping_nights": len(journey.rough_sleeping_nights),
        "emergency_bed_nights": len(journey.emergency_bed_nights),
        "provisional": int(journey.provisional),
        "merged_into": str(journey.merged_into) if journey.merged_into else None,
        "state": update.history.journey_json if update.history and update.history.journey is journey
        else journey.model_dump_json(),
        "updated_at": now,
    }


def project_into(connection: Connection, updates: Sequence[Applied], now: datetime, rules: Rules) -> None:
    """Store a batch of updates in the caller's transaction. Replaying any of them changes nothing."""
    # Rows are built from attributes, and JSON columns get JSON text from pydantic's serialiser:
    # per-row model dumps to Python values were most of the projector's cost.
    entries = [
        {
            "event_id": str(entry.event_id), "person_id": str(entry.person_id), "sequence": entry.sequence,
            "type": entry.type, "occurred_at": entry.occurred_at, "recorded_at": entry.recorded_at,
            "source": entry.source, "summary": entry.summary, "stage": entry.stage.value,
            "data": update.event.data.model_dump_json(),
            # Sealed, the boxes as they came (schemas/sealed.py): the read model holds no personal data in clear.
            "personal": json.dumps(stored_form(update.event.sealed)) if update.event.sealed
            else update.event.personal.model_dump_json(exclude_none=True),
        }
        for update in updates if not update.refolded for entry in (update.entry,)
    ]
    # A late event moved these entries along: their place and stage change, nothing else.
    moved = [
        {"id": str(u.entry.event_id), "new_sequence": u.entry.sequence, "new_stage": u.entry.stage.value,
         "new_summary": u.entry.summary}
        for u in updates if u.refolded
    ]
    # Only the newest state of each person in the batch is written, and only its row is made (a
    # row's journey JSON is made once per history: those of a person's earlier updates were not).
    newest: dict[UUID, Applied] = {}
    for update in updates:
        person = update.journey.person_id
        if person not in newest or newest[person].journey.sequence < update.journey.sequence:
            newest[person] = update
    latest = [_journey_row(update, now) for update in newest.values()]
    # The event id is the key; a newer place (a late event arrived before it) wins, an older
    # redelivered one changes nothing. What the entry is (its person, source, type, times, data
    # and personal part) never changes: a second event under a known id must not relabel it.
    upsert_newer(connection, timeline_entries, ["event_id"], entries, keep=_ENTRY_FIXED)
    write_many(connection, _MOVE_ENTRY, moved)
    # An older update redelivered after a newer one must not roll the journey back.
    upsert_newer(connection, journeys, ["person_id"], latest)
    grown, gained = profile_updates(connection, updates, now)
    write_many(connection, upsert_profiles(connection.dialect.name), grown)
    write_many(connection, new_keys(connection.dialect.name), gained)
    statistics_updates(connection, updates, rules)
    _project_reports(connection, [u.event for u in updates])
    _project_referrals(connection, [newest[u.journey.person_id] for u in updates
                                    if isinstance(u.event, ReferralRecorded)])


def _project_referrals(connection: Connection, updates: Sequence[Applied]) -> None:
    """The referrals of each person a referral event of the batch was about, as their newest
    journey holds them (a handful a person: written whole, never rolled back)."""
    rows = {}
    for update in updates:
        journey = update.journey
        for referral in journey.referrals:
            rows[referral.referral_id] = {
                "referral_id": str(referral.referral_id), "person_id": str(journey.person_id),
                "from_organisation": referral.from_organisation, "to_organisation": referral.to_organisation,
                "made_at": referral.made_at, "reason": referral.reason, "categories": ",".join(referral.categories),
                "expires_at": referral.expires_at, "status": referral.status, "answered_at": referral.answered_at,
                "decline_reason": referral.decline_reason, "sequence": journey.sequence,
            }
    upsert_newer(connection, referrals, ["referral_id"], list(rows.values()))


@lru_cache
def _new_reports(dialect: str) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert(sighting_reports).on_conflict_do_nothing()


def _project_reports(connection: Connection, events: Sequence[Any]) -> None:
    """Each step of a report sets its own columns, so replaying a step writes the same values."""
    received = [
        {
            "report_id": str(e.id), "person_id": str(e.subject), "organisation": e.source,
            "channel": e.data.channel.value, "area_code": e.data.area_code, "received_at": e.time,
            "wants_update": int(e.data.wants_update),
        }
        for e in events if isinstance(e, ReportReceived)
    ]
    write_many(connection, _new_reports(connection.dialect.name), received)
    # One statement per kind of step, run for all of the batch's steps of that kind (compiling a
    # statement per event cost more than the write).
    steps: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if isinstance(event, ReportProgressed):
            data = event.data
            steps.setdefault(event.type, []).append({
                "report": str(data.report_id), "at": event.time, "team_": data.team, "due_": data.due_by,
                "outcome_": data.outcome.value if data.outcome else None,
            })
    for step, rows in steps.items():
        write_many(connection, _REPORT_STEPS[step], rows)
    if told := [row["report"] for row in steps.get("report.reporter_told", ())]:
        # Once told the outcome, nobody needs the reporter's contact details.
        forget_reporters(connection, told, datetime.now(UTC))


def record_verdicts(engine: Engine, verdicts: Sequence[dict[str, Any]], now: datetime) -> None:
    """Store identity decisions' verdicts; a verdict given again (a redelivery) changes nothing."""
    if verdicts:
        with engine.begin() as connection:
            insert = dialect_insert(connection.engine)(identity_decisions)
            connection.execute(insert.on_conflict_do_nothing(), list(verdicts))
