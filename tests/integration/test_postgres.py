"""The read model is the same on SQLite and PostgreSQL for the same events, and a row it refuses
holds nothing up."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer
from sqlalchemy import Table, select, text

from journey.nights import night_of
from journey.statistics import Rules
from readmodel.board import month_flow
from readmodel.data_keys import keyring
from readmodel.keys import Role, issue_key
from readmodel.search_keys import SECRET_SUBJECT
from readmodel.statistics import statistics
from readmodel.tables import (
    data_keys,
    journeys,
    rough_sleeping,
    statistics_known,
    statistics_statuses,
    timeline_entries,
)
from schemas.events import decode_event, encode_event
from schemas.settings import Settings
from schemas.topics import DEAD_LETTER, INTAKE, PERSON_EVENTS
from schemas.updates import DeadLetter
from tests.builders import contact_body, report_body
from tests.conftest import System, fresh_postgres_database
from tests.events import T0, contact

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def dump(system: System) -> tuple[list, list]:
    """Every row of the read model, in a stable order, without the projector's own clock."""
    with system.engine.connect() as connection:
        people = connection.execute(select(journeys).order_by(journeys.c.person_id)).mappings().all()
        entries = connection.execute(select(timeline_entries).order_by(timeline_entries.c.event_id)).mappings().all()
    return [{k: v for k, v in row.items() if k != "updated_at"} for row in people], [dict(row) for row in entries]


def rows(system: System, table: Table) -> list[tuple]:
    with system.engine.connect() as connection:
        return sorted(map(tuple, connection.execute(select(table)).all()))


def test_the_read_model_is_the_same_on_sqlite_and_postgresql(
    make_settings: Callable[..., Settings], postgres_url: str
) -> None:
    # One key-encryption key for both, and the data keys copied across below: the data keys are
    # the one part of a read model its topics cannot make again (docs/operations.md).
    kek = base64.b64encode(b"k" * 32).decode()
    on_sqlite = System(make_settings(personal_data_key=kek))
    on_postgres = System(make_settings(database_url=fresh_postgres_database(postgres_url, "same"),
                                       personal_data_key=kek))
    try:
        on_sqlite.start_worker()
        on_postgres.start_worker()
        # Submissions go through the API into the SQLite system's intake topic...
        start = datetime.now(UTC) - timedelta(days=5)
        people = []
        for n in range(6):
            person = on_sqlite.post("/v1/reports", report_body(at=start + timedelta(hours=n))).json()["person_id"]
            for visit in range(n % 3 + 1):
                contact = on_sqlite.post("/v1/contacts", contact_body(
                    person, at=start + timedelta(hours=n + 10 + visit * 24),
                    details={"engaged": visit > 0, "bedded_down": visit != 1}))
                assert contact.status_code == 202, contact.text
            people.append((person, n % 3 + 3))  # the report, its routing, the contacts
        # ...and the very same records are copied into the PostgreSQL system's intake topic.
        producer = KafkaProducer(bootstrap_servers=on_postgres.settings.kafka_bootstrap_servers, acks="all")
        for record in on_sqlite.topic_records(INTAKE):
            producer.send(on_postgres.settings.topic(INTAKE), key=record.key, value=record.value)
        producer.flush()
        producer.close()
        keyring(on_sqlite.engine).bind()
        with on_sqlite.engine.connect() as source, on_postgres.engine.begin() as target:
            # (Each read model has its own search keys' secret, made when it was first connected.)
            target.execute(data_keys.insert(), [dict(row) for row in source.execute(
                select(data_keys).where(data_keys.c.subject != SECRET_SUBJECT)).mappings()])
        for person, events in people:
            on_sqlite.wait_journey(person, events)
            on_postgres.wait_journey(person, events)

        sqlite_people, sqlite_entries = dump(on_sqlite)
        postgres_people, postgres_entries = dump(on_postgres)
        assert len(sqlite_people) == 6 and len(sqlite_entries) == sum(events for _, events in people)
        assert postgres_people == sqlite_people
        assert postgres_entries == sqlite_entries
        for person, _ in people:
            assert on_postgres.journey(person).json() == on_sqlite.journey(person).json()
        # The statistics projection too: the same spans, what they go on from, the same figures.
        for table in (statistics_statuses, statistics_known, rough_sleeping):
            assert rows(on_postgres, table) == rows(on_sqlite, table) != [], table.name
        rules, night = Rules.configured(on_sqlite.settings), night_of(datetime.now(UTC), on_sqlite.settings.zone)
        assert month_flow(on_postgres.engine, rules, night) == month_flow(on_sqlite.engine, rules, night)
        # Figures of one area, for periods after the last contacts: each person's area is read
        # from before the period (one row a record, ranked in SQL).
        area = rows(on_sqlite, rough_sleeping)[0][-1]
        periods = [(night - timedelta(days=d), night + timedelta(days=1)) for d in (1, 3, 7)]
        figures = [statistics(system.engine, periods=periods, area=area, rules=rules)
                   for system in (on_sqlite, on_postgres)]
        assert figures[0] == figures[1] and figures[0][0]["built_for_zero"]["active"] > 0, figures
        # Erasure does the same on both.
        erased = people[0][0]
        for system in (on_sqlite, on_postgres):
            lead = issue_key(system.engine, organisation="the-council", role=Role.COUNCIL, now=datetime.now(UTC),
                             data_protection_lead=True)
            done = system.call("POST", f"/v1/people/{erased}/erasure", lead,
                               {"ground": "objection", "reference": "DSR-1"})
            assert done.status_code == 200 and done.json()["keys_destroyed"] >= 1, done.text
        assert dump(on_postgres) == dump(on_sqlite)
        assert on_postgres.journey(erased).json() == on_sqlite.journey(erased).json()
        assert all(not e["personal"] for e in on_postgres.journey(erased).json()["timeline"])
    finally:
        on_sqlite.close()
        on_postgres.close()


def test_a_row_the_read_model_refuses_is_dead_lettered_and_the_rest_is_written(
    make_settings: Callable[..., Settings], postgres_url: str
) -> None:
    # A database of its own: another test's rows, sealed under another key-encryption key, made
    # this worker's start (which reads every stored profile's boxes) fail now and then.
    system = System(make_settings(database_url=fresh_postgres_database(postgres_url, "refused")))
    # PostgreSQL refuses one event's timeline row, every time it is written (as a constraint
    # added by a later version, or a value too long for its column, would).
    events = [contact(uuid.uuid4(), T0 + timedelta(hours=n)) for n in range(3)]
    refused = str(events[1].id)
    function = f"refuse_{uuid.uuid4().hex[:8]}"
    with system.engine.begin() as connection:
        connection.execute(text(
            f"CREATE FUNCTION {function}() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.event_id = '{refused}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$ "
            "LANGUAGE plpgsql"))
        connection.execute(text(f"CREATE TRIGGER {function} BEFORE INSERT ON timeline_entries "
                                f"FOR EACH ROW EXECUTE FUNCTION {function}()"))
    try:
        # Three events in one batch: the middle one's row is refused.
        producer = KafkaProducer(bootstrap_servers=system.settings.kafka_bootstrap_servers, acks="all")
        for event in events:
            producer.send(system.settings.topic(PERSON_EVENTS), key=str(event.subject).encode(),
                          value=encode_event(event))
        producer.flush()
        producer.close()
        system.start_worker()

        ids = [str(e.id) for e in events]

        def stored() -> set[str]:  # only these rows
            with system.engine.connect() as connection:
                column = timeline_entries.c.event_id
                return {r.event_id for r in connection.execute(select(column).where(column.in_(ids)))}

        system.wait_for("the two good rows", lambda: len(stored()) == 2)
        letters = system.wait_for("the dead letter", lambda: system.topic_records(DEAD_LETTER))
        (letter,) = [DeadLetter.model_validate_json(r.value) for r in letters]
        assert letter.reason == "read model refused the row: RaiseException"
        assert decode_event(letter.payload) == events[1]
        assert stored() == {ids[0], ids[2]}
        assert "ALERT read model refused a row" in system.worker.log_file.read_text()
        # The projection goes on behind it.
        later = system.post("/v1/contacts", contact_body(None))
        system.wait_journey(later.json()["person_id"], events=1)
    finally:
        with system.engine.begin() as connection:
            connection.execute(text(f"DROP TRIGGER {function} ON timeline_entries"))
            connection.execute(text(f"DROP FUNCTION {function}()"))
        system.close()
