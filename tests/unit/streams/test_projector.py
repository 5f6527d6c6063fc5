"""The projector's bulk writes on a real SQLite file: an insert of many rows goes as a few
statements of many VALUES groups, and must store exactly what SQLAlchemy's own row-by-row
executemany stores, whatever the number of rows and however often a key repeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from readmodel.database import connect
from readmodel.tables import journeys, timeline_entries
from readmodel.writes import _for_driver, _upsert, upsert_newer

NOON = datetime(2026, 11, 2, 12, tzinfo=UTC)


def entry(n: int, sequence: int) -> dict[str, Any]:
    return {
        "event_id": f"event-{n % 3000:05d}", "person_id": f"person-{n % 70}", "sequence": sequence,
        "type": "contact.recorded", "occurred_at": NOON + timedelta(minutes=n), "recorded_at": NOON,
        "source": "outreach", "summary": f"Contact {n}", "stage": "contacted",
        "data": '{"team": "t"}', "personal": "{}",
    }


def stored(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(select(timeline_entries).order_by(timeline_entries.c.event_id))
        return [tuple(row) for row in rows]


def test_many_rows_in_few_statements_store_what_row_by_row_stores(tmp_path: Path) -> None:
    # 5,000 rows cross every statement size; 2,000 of them repeat a key, with a newer and an
    # older sequence than the row before them.
    rows = [entry(n, sequence=n % 7) for n in range(5_000)]
    bulk, one_by_one = (connect(f"sqlite:///{tmp_path / name}.db") for name in ("bulk", "rows"))
    assert _for_driver("sqlite", _upsert("sqlite", timeline_entries, ("event_id",), ("data", "personal")),
                       tuple(rows[0])).many_values is not None  # the bulk way is the one taken
    with bulk.begin() as connection:
        upsert_newer(connection, timeline_entries, ["event_id"], [dict(row) for row in rows], keep=("data", "personal"))
    with one_by_one.begin() as connection:
        for row in rows:  # SQLAlchemy's own statement and type handling, one row at a time
            connection.execute(_upsert("sqlite", timeline_entries, ("event_id",), ("data", "personal")), row)
    written = stored(bulk)
    assert len(written) == 3_000
    assert written == stored(one_by_one)
    newest = {row["event_id"]: row["sequence"] for row in sorted(rows, key=lambda row: row["sequence"])}
    assert {row[0]: row[2] for row in written} == newest  # each key's newest sequence won
    assert written[0][4] == NOON + timedelta(minutes=3_000)  # event-00000's newest row (n=3,000), its time as written


def test_a_journey_row_is_never_rolled_back_by_an_older_one_in_the_same_write(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'j.db'}")

    def journey(sequence: int) -> dict[str, Any]:
        return {"person_id": "p", "sequence": sequence, "stage": f"s{sequence}", "first_seen": NOON,
                "last_seen": NOON, "last_area": None, "reports": 0, "contacts": sequence,
                "rough_sleeping_nights": 0, "emergency_bed_nights": 0, "provisional": 0, "merged_into": None,
                "state": "{}", "updated_at": NOON}

    with engine.begin() as connection:
        upsert_newer(connection, journeys, ["person_id"], [journey(2), journey(5), journey(3)])
    with engine.connect() as connection:
        assert connection.execute(select(journeys.c.sequence, journeys.c.stage)).one() == (5, "s5")
