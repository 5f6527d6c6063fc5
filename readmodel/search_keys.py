"""The search keys: what search and identity matching find their candidates by.

The worker writes a person's blocking keys (journey/matching.py) when their profile grows
(readmodel/profiles.py), in the read model's transaction for that batch; a search or a proposal
reads the people who share a key with what it looks for, and opens and scores only their
profiles. Each key is stored as 8 bytes of an HMAC-SHA256 under a secret kept like a data key
(wrapped by the key-encryption key, in `data_keys`): without it the table is numbers beside
person ids. Erasure deletes a person's keys in its transaction."""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid4

from cryptography.exceptions import InvalidTag
from sqlalchemy import Connection, Engine, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite

from readmodel.data_keys import Keyring, keyring
from readmodel.tables import data_keys, search_keys
from schemas.sealed import new_data_key

SECRET_SUBJECT = "index:search-keys"
_CHUNK = 500


def secret(keys: Keyring, now: datetime) -> bytes:
    """The search keys' secret, made on first use: the first one this process's key-encryption
    key opens (a database shared by systems with different ones, as the tests do, has one each)."""
    found = keys.secrets.get(SECRET_SUBJECT)
    if found is not None:
        return found
    with keys.engine.connect() as connection:
        # One process makes it at a time (the API and the worker connect together): the other
        # waits, then finds it.
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.execute(text("SELECT pg_advisory_xact_lock(7346022)"))
        for key_id, wrapped in connection.execute(
                select(data_keys.c.key_id, data_keys.c.wrapped)
                .where(data_keys.c.subject == SECRET_SUBJECT, data_keys.c.wrapped.is_not(None))
                .order_by(data_keys.c.created_at, data_keys.c.key_id)):
            with contextlib.suppress(InvalidTag):
                found = keys.kek.unwrap(wrapped, UUID(key_id))
                break
        else:
            key_id, found = uuid4(), new_data_key()
            connection.execute(data_keys.insert().values(
                key_id=str(key_id), subject=SECRET_SUBJECT, kek=keys.kek.name,
                wrapped=keys.kek.wrap(found, key_id), created_at=now))
        connection.commit()
    keys.secrets[SECRET_SUBJECT] = found
    return found


def hashed(secret_: bytes, keys: Iterable[str]) -> list[int]:
    # 8 bytes: two keys in 2^64 alike only make a candidate more, which scoring then drops.
    return [int.from_bytes(hmac.digest(secret_, key.encode(), "sha256")[:8], "big", signed=True) for key in keys]


def rows(secret_: bytes, wanted: Collection[tuple[str, str]]) -> list[dict[str, Any]]:
    """The search_keys rows of (blocking key, person id) pairs."""
    pairs = list(wanted)
    numbers = hashed(secret_, (key for key, _ in pairs))
    return [{"key": number, "person_id": person} for number, (_, person) in zip(numbers, pairs, strict=True)]


@lru_cache  # one statement object: the projector's write_many compiles it once
def new_keys(dialect: str) -> Any:
    """The insert of search_keys rows that leaves a key a person has as it is."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(search_keys).on_conflict_do_nothing()


def people_with(engine: Engine, wanted: Sequence[Collection[str]], now: datetime) -> set[str]:
    """The people who have at least one key of every set in `wanted`."""
    if not wanted or any(not keys for keys in wanted):
        return set()
    code = secret(keyring(engine), now)
    found: set[str] | None = None
    with engine.connect() as connection:
        # The rarest term first would be cheaper; every term is one indexed lookup per key anyway.
        for keys in wanted:
            numbers = hashed(code, keys)
            these: set[str] = set()
            for start in range(0, len(numbers), _CHUNK):
                these.update(connection.execute(select(search_keys.c.person_id).distinct().where(
                    search_keys.c.key.in_(numbers[start:start + _CHUNK]))).scalars())
            found = these if found is None else found & these
            if not found:
                return set()
    return found or set()


def shared_by(engine: Engine, people: Collection[str], wanted: Collection[str], now: datetime) -> dict[str, set[str]]:
    """Which of the `wanted` keys each of these people has (people with none are left out)."""
    code = secret(keyring(engine), now)
    named = dict(zip(hashed(code, wanted), wanted, strict=True))
    numbers, ordered = list(named), sorted(people)
    found: dict[str, set[str]] = {}
    with engine.connect() as connection:
        for start in range(0, len(ordered), _CHUNK):
            for number, person in connection.execute(select(search_keys.c.key, search_keys.c.person_id).where(
                    search_keys.c.person_id.in_(ordered[start:start + _CHUNK]), search_keys.c.key.in_(numbers))):
                found.setdefault(person, set()).add(named[number])
    return found


def forget_people(connection: Connection, people: Collection[str]) -> None:
    """Delete these records' keys (erasure, in its transaction)."""
    people = list(people)
    for start in range(0, len(people), _CHUNK):
        connection.execute(delete(search_keys).where(search_keys.c.person_id.in_(people[start:start + _CHUNK])))
