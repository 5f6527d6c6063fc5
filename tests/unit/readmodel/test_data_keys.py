"""The data keys in the read model: one per subject, kept wrapped, opened by id, destroyed for
good; the development key-encryption key made once and shared by every process."""

from __future__ import annotations

import stat
import threading
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import event, select

import readmodel.data_keys as data_keys_module
from readmodel.data_keys import (
    BIND_WITHIN_S,
    POOL,
    UNBOUND,
    Keyring,
    WrongKeyEncryptionKey,
    configured_kek,
    destroy_keys,
    reporter_subject,
)
from readmodel.database import read_model
from readmodel.search_keys import SECRET_SUBJECT
from readmodel.tables import data_keys
from schemas.events import ReportDetails, ReportPersonal, ReportReceived, opened_event
from schemas.sealed import LocalKeyEncryptionKey, stored_form
from schemas.settings import Settings

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _report() -> ReportReceived:
    return ReportReceived(
        id=uuid4(), source="street-services", actor="m1", time=NOON, recorded_at=NOON,
        data=ReportDetails(channel="staff", area_code="town-centre"),
        personal=ReportPersonal(person_description="red coat", reporter={"name": "Pat Doe", "phone": "07700 900456"}),
    )


def _keyring(tmp_path: Path, **clock: object) -> Keyring:
    settings = Settings(state_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'rm.db'}")
    engine = read_model(settings)
    return Keyring(engine, configured_kek(settings), **clock)  # type: ignore[arg-type]


def test_an_event_is_sealed_with_its_persons_and_its_reporters_keys_and_opens_again(tmp_path: Path) -> None:
    keys, person, event = _keyring(tmp_path), uuid4(), _report()
    sealed = keys.seal(event, person, NOON)
    assert sealed.personal == ReportPersonal() and len(sealed.sealed) == 2
    with keys.engine.connect() as connection:  # made in advance; whose they are is written in a moment
        assert set(connection.execute(select(data_keys.c.subject)).scalars()) == {UNBOUND, SECRET_SUBJECT}
    keys.bind()
    assert "red coat" not in sealed.model_dump_json() and "Pat Doe" not in sealed.model_dump_json()
    with keys.engine.connect() as connection:
        rows = dict(connection.execute(select(data_keys.c.subject, data_keys.c.wrapped)).all())
    assert {str(person), reporter_subject(event.id)} <= set(rows) and len(rows) == 4  # the pool's, the search keys'
    assert all(len(wrapped) == 12 + 32 + 16 for wrapped in rows.values())  # nonce, key, tag: never the key alone
    # Another process (a keyring with nothing cached) opens it from the database.
    other = Keyring(keys.engine, keys.kek)
    assert other.personal([(event.id, stored_form(sealed.sealed))]) == [event.personal.model_dump(
        mode="json", exclude_defaults=True)]
    reopened = opened_event(sealed, other.opening({p.key for p in sealed.sealed}))
    assert reopened.personal == event.personal and reopened.sealed == ()
    # The same person's next event is sealed with the same key.
    assert keys.seal(_report(), person, NOON).sealed[0].key == sealed.sealed[0].key


def test_a_destroyed_key_opens_nothing_in_any_process_once_its_cache_lapses(tmp_path: Path) -> None:
    now = [0.0]
    keys, person, event = _keyring(tmp_path, ttl=30.0, clock=lambda: now[0]), uuid4(), _report()
    sealed = keys.seal(event, person, NOON)
    keys.bind()
    elsewhere = Keyring(keys.engine, keys.kek, ttl=30.0, clock=lambda: now[0])
    stored = [(event.id, stored_form(sealed.sealed))]
    assert elsewhere.personal(stored)[0]["person_description"] == "red coat"
    with keys.engine.begin() as connection:
        destroyed = destroy_keys(connection, NOON, subjects=[str(person)])
    keys.forget(destroyed, [str(person)])
    assert keys.personal(stored) == [{"reporter": {"name": "Pat Doe", "phone": "07700 900456"}}]
    now[0] = 31.0
    assert elsewhere.personal(stored) == [{"reporter": {"name": "Pat Doe", "phone": "07700 900456"}}]
    with keys.engine.connect() as connection:
        row = connection.execute(select(data_keys).where(data_keys.c.subject == str(person))).one()
    assert row.wrapped is None and row.destroyed_at == NOON
    # What is said about the person next gets a new key.
    assert destroyed and str(keys.seal(_report(), person, NOON).sealed[0].key) not in destroyed


def test_the_development_key_encryption_key_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    first = configured_kek(settings)
    path = tmp_path / "personal-data.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key_id = uuid4()
    assert configured_kek(settings).unwrap(first.wrap(b"x" * 32, key_id), key_id) == b"x" * 32
    assert list(tmp_path.iterdir()) == [path]


def test_a_process_with_another_key_encryption_key_is_told_so_plainly(tmp_path: Path) -> None:
    keys, event = _keyring(tmp_path), _report()
    sealed = keys.seal(event, uuid4(), NOON)
    stranger = Keyring(keys.engine, LocalKeyEncryptionKey(b"s" * 32))
    with pytest.raises(WrongKeyEncryptionKey, match="same PERSONAL_DATA_KEY"):
        stranger.personal([(event.id, stored_form(sealed.sealed))])


def test_new_people_cost_one_write_for_many(tmp_path: Path) -> None:
    keys = _keyring(tmp_path)
    writes = []
    event.listen(keys.engine, "commit", lambda connection: writes.append(1))
    people = [uuid4() for _ in range(POOL)]
    for person in people:
        keys.seal(_report().model_copy(update={"personal": ReportPersonal(person_description="x")}), person, NOON)
    assert len(writes) == 1, "one transaction made the pool, and nothing else was written"
    keys.bind()
    with keys.engine.connect() as connection:
        bound = set(connection.execute(select(data_keys.c.subject).where(
            data_keys.c.subject.not_in((UNBOUND, SECRET_SUBJECT)))).scalars())
    assert bound == {str(p) for p in people}


def test_a_subject_its_event_makes_is_not_looked_up(tmp_path: Path) -> None:
    keys = _keyring(tmp_path, clock=lambda: 0.0)  # a still clock: no binding falls due meanwhile
    person, statements = uuid4(), []
    keys.seal(_report(), person, NOON)  # the pool is made
    event.listen(keys.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    keys.seal(_report(), uuid4(), NOON, new_person=True)
    assert statements == [], "a new person's report and its reporter: keys from the pool, nothing asked"
    keys.seal(_report(), uuid4(), NOON)
    assert len(statements) == 1 and "data_keys" in statements[0], "a named person: their key is looked up"


def test_a_process_holds_a_bounded_number_of_keys_unwrapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_keys_module, "MOST_HELD", 10)
    clock = [0.0]
    keys = _keyring(tmp_path, clock=lambda: clock[0])
    people = [uuid4() for _ in range(25)]
    sealed = [keys.seal(_report().model_copy(update={"personal": ReportPersonal(person_description="x")}), p, NOON)
              for p in people]
    assert len(keys._sealing) <= 10 and len(keys._opening) <= 10
    other = Keyring(keys.engine, keys.kek, clock=lambda: clock[0])
    keys.bind()
    for report in sealed:  # every box still opens: a key dropped is read again
        assert other.personal([(report.id, stored_form(report.sealed))])[0]["person_description"] == "x"
    assert len(other._opening) <= 10


def test_the_api_is_told_truly_whether_sealing_needs_the_database(tmp_path: Path) -> None:
    """The API seals in its event loop only what `seals_from_memory` says needs no database: each
    answer is checked against the statements the seal then ran."""
    clock = [0.0]
    keys = _keyring(tmp_path, clock=lambda: clock[0])
    statements: list[str] = []
    event.listen(keys.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    def sealed_as_told(person: object, *, new_person: bool = False) -> bool:
        told = keys.seals_from_memory(_report(), person, new_person=new_person)  # type: ignore[arg-type]
        statements.clear()
        keys.seal(_report(), person, NOON, new_person=new_person)  # type: ignore[arg-type]
        assert told == (not statements), f"told {told}, ran {statements}"
        return told

    assert not sealed_as_told(uuid4(), new_person=True), "no pool yet"
    assert sealed_as_told(uuid4(), new_person=True), "a new person and their reporter: keys from the pool"
    known = uuid4()
    assert not sealed_as_told(known), "a named person not seen lately: their key is looked up"
    assert sealed_as_told(known), "and then kept"
    clock[0] = BIND_WITHIN_S + 1
    assert not sealed_as_told(known), "where the new keys went is due to be written"
    while len(keys._pool) >= 2:
        keys.seal(_report(), uuid4(), NOON, new_person=True)
    assert not sealed_as_told(uuid4(), new_person=True), "the pool is refilled"


def test_upkeep_refills_the_pool_and_binds_before_sealing_would_wait_for_either(tmp_path: Path) -> None:
    """The API runs `upkeep` in the background when `upkeep_due` says so: sealing then never finds
    the pool empty or a binding overdue, so it stays in the event loop."""
    clock = [0.0]
    keys = _keyring(tmp_path, clock=lambda: clock[0])
    assert keys.upkeep_due(), "no pool yet"
    keys.upkeep(NOON)
    assert not keys.upkeep_due() and len(keys._pool) == POOL
    for _ in range(POOL // 4 + 1):  # a report takes two keys: its person's and its reporter's
        assert keys.seals_from_memory(_report(), uuid4(), new_person=True)
        keys.seal(_report(), uuid4(), NOON, new_person=True)
    assert keys.upkeep_due(), "the pool runs low"
    keys.upkeep(NOON)
    assert len(keys._pool) >= POOL and not keys._unbound, "refilled, and where the keys went written with it"
    keys.seal(_report(), uuid4(), NOON, new_person=True)
    clock[0] = BIND_WITHIN_S / 2
    assert keys.upkeep_due(), "a binding half due"
    statements: list[str] = []
    event.listen(keys.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    keys.upkeep(NOON)
    assert not keys._unbound and len(statements) == 1 and statements[0].startswith("UPDATE data_keys")


def test_threads_needing_new_keys_at_once_make_them_once(tmp_path: Path) -> None:
    keys = _keyring(tmp_path)
    commits: list[int] = []
    event.listen(keys.engine, "commit", lambda connection: commits.append(1))
    start = threading.Barrier(8)

    def one() -> None:
        start.wait()
        keys.seal(_report(), uuid4(), NOON, new_person=True)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(commits) == 1, "one thread made the pool; the others waited for it and took from it"
    assert len(keys._pool) == POOL - 8 * 2, "each took two keys: their person's and their reporter's"
