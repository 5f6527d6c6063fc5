"""The read model's own upkeep."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import select

from schemas.read_model import connect, journeys


def test_a_read_model_from_an_earlier_version_gains_the_new_columns(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    with sqlite3.connect(database) as old:  # the journeys table as the walking skeleton made it
        old.execute("CREATE TABLE journeys (person_id VARCHAR(36) PRIMARY KEY, sequence INTEGER NOT NULL, "
                    "stage VARCHAR(32) NOT NULL, first_seen DATETIME, last_seen DATETIME, last_area VARCHAR(32), "
                    "reports INTEGER NOT NULL, contacts INTEGER NOT NULL, rough_sleeping_nights INTEGER NOT NULL, "
                    "updated_at DATETIME NOT NULL)")
        old.execute("INSERT INTO journeys VALUES ('p1', 2, 'engaged', NULL, NULL, NULL, 1, 1, 1, "
                    "'2026-11-01 10:00:00')")
    engine = connect(f"sqlite:///{database}")
    with engine.connect() as connection:
        row = connection.execute(select(journeys)).one()
    assert (row.person_id, row.emergency_bed_nights) == ("p1", 0)
