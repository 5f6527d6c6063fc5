"""The data keys that seal personal parts (schemas/sealed.py): kept in the read model's database,
each wrapped by the key-encryption key, never in Kafka. A person's key seals everything said
about them; a report's reporter has a key of their own, so that the reporter can be forgotten
while the report stays. Destroying a key is erasure: every box it sealed, in every topic, store
and backup, can no longer be opened."""

from __future__ import annotations

import base64
import os
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Engine, bindparam, or_, select, update

from readmodel.tables import data_keys
from schemas.events import Event
from schemas.sealed import (
    REPORTER,
    KeyEncryptionKey,
    LocalKeyEncryptionKey,
    new_data_key,
    opened,
    personal_fields,
    seal,
    sealed_keys,
)
from schemas.settings import Settings

_CHUNK = 500  # ids per IN (...): well under SQLite's and PostgreSQL's limits on parameters
POOL = 256  # new keys a process makes at once (a third of a second of new people at 750 submissions/s)
LOW = POOL // 2  # the pool is refilled in the background below this (Keyring.upkeep_due)
# Most keys a process holds unwrapped: each costs ~2.5 KB, and the worker opens every person's
# (the profiles, readmodel/profiles.py): kept without bound, a city's keys would take hundreds of MB.
MOST_HELD = 8192
BIND_WITHIN_S = 1.0  # how soon a new key's subject is written, at the latest, while sealing goes on
UNBOUND = ""  # the subject of a key made in advance, not given to anyone yet


def reporter_subject(report_id: UUID | str) -> str:
    """The subject of a report's reporter's key."""
    return f"reporter:{report_id}"


def configured_kek(settings: Settings) -> KeyEncryptionKey:
    """The key-encryption key the settings name: PERSONAL_DATA_KEY, else the file (made on first
    use, readable by its owner only, by whichever process comes first)."""
    if settings.personal_data_key:
        return LocalKeyEncryptionKey(base64.b64decode(settings.personal_data_key))
    path = settings.personal_data_key_file or settings.state_dir / "personal-data.key"
    if not path.exists():
        _make_key_file(path)
    return LocalKeyEncryptionKey(base64.b64decode(path.read_text().strip()))


def _make_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(base64.b64encode(AESGCM.generate_key(bit_length=256)).decode() + "\n")
    try:
        os.link(draft, path)  # fails if another process made it first: then both use that one
    except FileExistsError:
        pass
    finally:
        draft.unlink()


class WrongKeyEncryptionKey(RuntimeError):
    """This process's key-encryption key is not the one that wrapped the data keys."""


@dataclass
class Keyring:
    """A process's access to the data keys. Unwrapped keys are kept for `ttl` seconds, so a
    batch or a page opens its boxes with one query for the keys it has not seen lately."""

    engine: Engine
    kek: KeyEncryptionKey
    ttl: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _sealing: dict[str, tuple[float, UUID, AESGCM]] = field(default_factory=dict)
    _opening: dict[str, tuple[float, AESGCM | None]] = field(default_factory=dict)  # by the id's text
    _pool: list[tuple[UUID, AESGCM]] = field(default_factory=list)
    _unbound: dict[str, str] = field(default_factory=dict)  # key id -> the subject it went to, not written yet
    _bound_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Held while new keys or bindings are written (never by the event loop): one thread writes,
    # the others that found the same need wait for it and find it met.
    _writing: threading.Lock = field(default_factory=threading.Lock)
    secrets: dict[str, bytes] = field(default_factory=dict)  # never destroyed: readmodel/search_keys.py

    def seals_from_memory(self, event: Event, person_id: UUID, *, new_person: bool = False) -> bool:
        """Whether `seal` would need no database: every key it takes is kept or in the pool, and
        no binding is overdue (the API's event loop seals such an event itself, others in a thread)."""
        fields = personal_fields(event.personal)
        if not fields:
            return True
        fresh = self.clock()
        # A new person and a report's reporter take new keys from the pool; a known person's is kept.
        new_keys = int(new_person) + int(fields.get(REPORTER) is not None)
        kept = new_person or ((hit := self._sealing.get(str(person_id))) is not None and hit[0] > fresh)
        binding_due = bool(self._unbound) and fresh - self._bound_at >= BIND_WITHIN_S
        return kept and len(self._pool) >= new_keys and not binding_due

    def upkeep_due(self) -> bool:
        """Whether the pool is running low or new keys' subjects have waited half of
        BIND_WITHIN_S: `upkeep` (in the background, in a thread) then keeps sealing in memory.
        Without it, the submission that found the pool empty or a binding due made every one
        arriving while it wrote go to a thread too (at 750 submissions/s, several a second)."""
        return len(self._pool) < LOW or (bool(self._unbound) and self.clock() - self._bound_at >= BIND_WITHIN_S / 2)

    def upkeep(self, now: datetime) -> None:
        """Refill the pool if it runs low, and write where the new keys went: one transaction,
        none of it holding the lock sealing takes (the event loop seals meanwhile)."""
        if len(self._pool) < LOW:
            self._top_up(now, LOW)
        else:
            self.bind()

    def sealing(self, subjects: Collection[str], now: datetime,
                new: Collection[str] = ()) -> dict[str, tuple[UUID, AESGCM]]:
        """A live key for each subject: the one it has, or a new one (two processes may each give
        a subject a new key at the same moment: both are the subject's, destroyed with it).

        A new key comes from a pool this process made in advance, and which subject it went to is
        written with the next refill, or within `BIND_WITHIN_S`: a submission about someone new
        costs no write of its own (one write a key cost the API a third of its rate, as every
        write waits for the worker's). Until it is written, erasure finds the key through the
        boxes in the person's timeline. Subjects in `new` (a provisional person made by this very
        event, a report's reporter) have no key yet: nothing is looked up for them."""
        fresh = self.clock()
        found: dict[str, tuple[UUID, AESGCM]] = {}
        for subject in subjects:
            hit = self._sealing.get(subject)
            if hit and hit[0] > fresh:
                found[subject] = (hit[1], hit[2])
        missing = [s for s in subjects if s not in found]
        if missing:
            if known := [s for s in missing if s not in new]:
                with self.engine.connect() as connection:
                    for row in connection.execute(
                            select(data_keys.c.subject, data_keys.c.key_id, data_keys.c.wrapped).where(
                                data_keys.c.subject.in_(known), data_keys.c.destroyed_at.is_(None))
                            .order_by(data_keys.c.created_at)):
                        if row.subject not in found:
                            found[row.subject] = (UUID(row.key_id), self._unwrapped(row.wrapped, row.key_id))
            wanted = [s for s in missing if s not in found]
            while True:
                with self._lock:
                    if len(self._pool) >= len(wanted):
                        for subject in wanted:
                            key_id, aead = self._pool.pop()
                            self._unbound[str(key_id)] = subject
                            found[subject] = (key_id, aead)
                        for subject in missing:
                            key_id, aead = found[subject]
                            self._sealing[subject] = (fresh + self.ttl, key_id, aead)
                            self._opening[str(key_id)] = (fresh + self.ttl, aead)
                        _trim(self._sealing, fresh)
                        _trim(self._opening, fresh)
                        break
                self._top_up(now, len(wanted))  # outside the lock: another thread may take some first
        if self._unbound and fresh - self._bound_at >= BIND_WITHIN_S:
            self.bind()
        return found

    def _top_up(self, now: datetime, least: int) -> None:
        """Make the next POOL keys, and write where the last ones went, in one transaction
        (unless, by the time this thread may write, another has left `least` in the pool)."""
        with self._writing:
            if len(self._pool) >= least:
                return
            made, rows = [], []
            for _ in range(POOL):
                key_id, secret = uuid4(), new_data_key()
                rows.append({"key_id": str(key_id), "subject": UNBOUND, "kek": self.kek.name,
                             "wrapped": self.kek.wrap(secret, key_id), "created_at": now})
                made.append((key_id, AESGCM(secret)))
            bindings = dict(self._unbound)  # copied in one step (C, under Python's lock)
            with self.engine.begin() as connection:
                connection.execute(data_keys.insert(), rows)
                self._write_bindings(connection, bindings)
            with self._lock:
                self._pool.extend(made)
                self._bound(bindings)

    def bind(self) -> None:
        """Write which subject each new key went to (done on its own within BIND_WITHIN_S)."""
        with self._writing:
            bindings = dict(self._unbound)
            if bindings:
                with self.engine.begin() as connection:
                    self._write_bindings(connection, bindings)
            with self._lock:
                self._bound(bindings)

    @staticmethod
    def _write_bindings(connection: Connection, bindings: Mapping[str, str]) -> None:
        # Only a key still unbound is given its subject: a binding written again changes nothing.
        if bindings:
            connection.execute(update(data_keys).where(data_keys.c.key_id == bindparam("key"),
                                                       data_keys.c.subject == UNBOUND)
                               .values(subject=bindparam("to")),
                               [{"key": k, "to": s} for k, s in bindings.items()])

    def _bound(self, bindings: Mapping[str, str]) -> None:
        """Under the lock: these bindings are written (others may have been added meanwhile)."""
        for key_id in bindings:
            self._unbound.pop(key_id, None)
        self._bound_at = self.clock()

    def seal(self, event: Event, person_id: UUID, now: datetime, *, new_person: bool = False) -> Event:
        """The event with its personal part sealed: the person's fields with `person_id`'s key, a
        report's reporter with a key of that reporter alone. An event with nothing personal is
        returned as it is. `new_person`: the event makes its person (no key to look up)."""
        fields = personal_fields(event.personal)
        if not fields:
            return event
        person, reporter = str(person_id), reporter_subject(event.id)
        keys = self.sealing([person, reporter] if fields.get(REPORTER) is not None else [person], now,
                            new={reporter, *([person] if new_person else [])})
        parts = seal(event.id, fields, keys[person], keys.get(reporter))
        return event.model_copy(update={"personal": type(event.personal)(), "sealed": parts})

    def opening(self, key_ids: Iterable[UUID | str], connection: Connection | None = None) -> dict[str, AESGCM]:
        """The keys among `key_ids` that still exist (a destroyed one is absent), by their ids' text."""
        fresh = self.clock()
        wanted = {str(k) for k in key_ids}
        keys: dict[str, AESGCM] = {}
        missing = []
        for key_id in wanted:
            hit = self._opening.get(key_id)
            if hit and hit[0] > fresh:
                if hit[1] is not None:
                    keys[key_id] = hit[1]
            else:
                missing.append(key_id)
        if missing:
            loaded = self._load(missing, connection)
            for key_id in missing:
                aead = loaded.get(key_id)
                self._opening[key_id] = (fresh + self.ttl, aead)
                if aead is not None:
                    keys[key_id] = aead
            _trim(self._opening, fresh)
        return keys

    def _load(self, key_ids: Sequence[str], connection: Connection | None) -> dict[str, AESGCM]:
        if connection is None:
            with self.engine.connect() as own:
                return self._load(key_ids, own)
        loaded = {}
        for start in range(0, len(key_ids), _CHUNK):
            chunk = key_ids[start:start + _CHUNK]
            for row in connection.execute(select(data_keys.c.key_id, data_keys.c.wrapped).where(
                    data_keys.c.key_id.in_(chunk), data_keys.c.wrapped.is_not(None))):
                loaded[row.key_id] = self._unwrapped(row.wrapped, row.key_id)
        return loaded

    def _unwrapped(self, wrapped: bytes, key_id: str) -> AESGCM:
        try:
            return AESGCM(self.kek.unwrap(wrapped, UUID(key_id)))
        except InvalidTag:
            raise WrongKeyEncryptionKey(
                f"data key {key_id} was wrapped by another key-encryption key than this process's "
                f"({self.kek.name}): every API and worker process needs the same PERSONAL_DATA_KEY") from None

    def personal(self, rows: Sequence[tuple[Any, Mapping[str, Any] | None]],
                 connection: Connection | None = None) -> list[dict[str, Any]]:
        """The personal fields of stored (event id, personal part) pairs, opened: the one way the
        read model's personal columns are read."""
        needed: set[str] = set()
        for _, stored in rows:
            needed |= sealed_keys(stored)
        keys = self.opening(needed, connection) if needed else {}
        return [opened(event_id, stored, keys) for event_id, stored in rows]

    def forget(self, key_ids: Iterable[UUID | str] = (), subjects: Iterable[str] = ()) -> None:
        """Drop keys this process destroyed from its cache at once."""
        for key_id in key_ids:
            self._opening.pop(str(key_id), None)
        for subject in subjects:
            hit = self._sealing.pop(subject, None)
            if hit:
                self._opening.pop(str(hit[1]), None)


def _trim(held: dict[str, Any], now: float) -> None:
    """Past MOST_HELD: drop what has expired, then the oldest held (a dict keeps insertion order)
    down to three quarters of it, so that the next trim is a quarter of MOST_HELD keys away (one
    at every new key past it scanned the whole dict: 8 % of the API's time a submission)."""
    if len(held) <= MOST_HELD:
        return
    # Copied in one step (C, under Python's lock) and popped: another thread may be adding keys.
    for key, hit in list(held.items()):
        if hit[0] <= now:
            held.pop(key, None)
    for key in list(held)[:max(0, len(held) - MOST_HELD * 3 // 4)]:
        held.pop(key, None)


def destroy_keys(connection: Connection, now: datetime, *, subjects: Collection[str] = (),
                 key_ids: Collection[UUID | str] = ()) -> list[str]:
    """Destroy the subjects' keys and these keys (in the caller's transaction): the wrapped key
    is emptied, the row stays as the record that it was destroyed. Returns the keys destroyed."""
    destroyed: list[str] = []
    subject_list, id_list = list(subjects), [str(k) for k in key_ids]
    for start in range(0, max(len(subject_list), len(id_list)), _CHUNK):
        some_subjects, some_ids = subject_list[start:start + _CHUNK], id_list[start:start + _CHUNK]
        which = or_(data_keys.c.subject.in_(some_subjects), data_keys.c.key_id.in_(some_ids))
        live = [row.key_id for row in connection.execute(
            select(data_keys.c.key_id).where(which, data_keys.c.destroyed_at.is_(None)))]
        if live:
            connection.execute(update(data_keys).where(data_keys.c.key_id.in_(live))
                               .values(wrapped=None, destroyed_at=now))
            destroyed.extend(live)
    return destroyed


_KEYRINGS: weakref.WeakKeyDictionary[Engine, Keyring] = weakref.WeakKeyDictionary()


def attach(engine: Engine, keyring: Keyring) -> None:
    """Make `keyring` the one this read model's readers open personal parts with."""
    _KEYRINGS[engine] = keyring


def keyring(engine: Engine) -> Keyring:
    """The keyring of a read model connected with its settings (readmodel/database.read_model)."""
    try:
        return _KEYRINGS[engine]
    except KeyError:
        raise RuntimeError("this read model was connected without its key-encryption key: use "
                           "readmodel.database.read_model(settings)") from None
