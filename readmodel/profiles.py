"""The profile projection: what the records say about who each person is (names and aliases,
date of birth, description words, areas), one row a person, kept by the worker in the read
model's transaction for each batch. Search and identity matching open these rows, found by their
search keys (readmodel/search_keys.py), instead of every report and contact in the timeline.

A profile only grows (a name heard once stays one of the person's names), and the newest date of
birth by event time wins, so it does not depend on the order events arrive in. It is sealed with
the person's data key, as the events it came from were (in clear if they came in clear): erasure
destroys that key and deletes the row and its search keys."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from journey.applied import Applied
from journey.matching import Profile, description_words, profile_keys
from readmodel import search_keys
from readmodel.data_keys import keyring
from readmodel.tables import journeys, timeline_entries
from readmodel.tables import profiles as profile_rows
from schemas.sealed import SEALED, seal, sealed_keys, stored_form

# The events that say who someone is.
SAYS_WHO = frozenset({"report.received", "contact.recorded", "case.walked_in"})
_CHUNK = 500


def grown(profile: Mapping[str, Any], fields: Mapping[str, Any], area: str | None, at: datetime) -> dict[str, Any]:
    """A stored profile with what one event said added (its opened personal fields, its area)."""
    names = set(profile.get("names", ()))
    names.update(n for n in (fields.get("known_as"), *fields.get("aliases", ())) if n)
    words = set(profile.get("words", ()))
    if description := fields.get("person_description"):
        words.update(description_words(description))
    areas = set(profile.get("areas", ()))
    if area:
        areas.add(area)
    born, said_at = profile.get("date_of_birth"), profile.get("born_said_at")
    if (birth := fields.get("date_of_birth")) and (said_at is None or (at.isoformat(), birth) > (said_at, born)):
        born, said_at = birth, at.isoformat()
    return {"names": sorted(names), "date_of_birth": born, "born_said_at": said_at, "words": sorted(words),
            "areas": sorted(areas)}


def keys_of(profile: Mapping[str, Any]) -> set[str]:
    return profile_keys(profile.get("names", ()), profile.get("date_of_birth"), profile.get("words", ()),
                        profile.get("areas", ()))


def _upsert(dialect: str) -> Any:
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(profile_rows)
    return insert.on_conflict_do_update(index_elements=[profile_rows.c.person_id], set_={
        "profile": insert.excluded.profile, "updated_at": insert.excluded.updated_at})


_UPSERTS = {dialect: _upsert(dialect) for dialect in ("sqlite", "postgresql")}  # compiled once by write_many


def upsert(dialect: str) -> Any:
    return _UPSERTS[dialect]


def profile_updates(connection: Connection, updates: Sequence[Applied],
                    now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The profiles rows a batch changes, and the search keys they gained (the projector writes
    both in its transaction). A batch that tells nothing new about anyone writes nothing."""
    said = [u for u in updates if not u.refolded and u.event.type in SAYS_WHO]
    if not said:
        return [], []
    return _grow(connection, [(str(u.entry.person_id), str(u.event.id), getattr(u.event.data, "area_code", None),
                               u.event.time, stored_form(u.event.sealed) if u.event.sealed
                               else u.event.personal.model_dump(mode="json", exclude_none=True)) for u in said], now)


def _grow(connection: Connection, said: Sequence[tuple[str, str, str | None, datetime, Mapping[str, Any]]],
          now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`said`: (person, event id, area, event time, stored personal part) of events that say who someone is."""
    people = sorted({person for person, *_ in said})
    stored: dict[str, Mapping[str, Any]] = {}
    for start in range(0, len(people), _CHUNK):
        stored.update(connection.execute(select(profile_rows.c.person_id, profile_rows.c.profile).where(
            profile_rows.c.person_id.in_(people[start:start + _CHUNK]))).all())
    keys = keyring(connection.engine)
    before = dict(zip(stored, keys.personal([(person, box) for person, box in stored.items()], connection),
                      strict=True))
    heard = keys.personal([(event_id, personal) for _, event_id, _, _, personal in said], connection)
    after = {person: dict(profile) for person, profile in before.items()}
    sealing: dict[str, str] = {person: next(iter(sealed_keys(box))) for person, box in stored.items()
                               if sealed_keys(box)}
    for (person, _, area, at, personal), fields in zip(said, heard, strict=True):
        after[person] = grown(after.get(person, {}), fields, area, at)
        # The person's own key sealed this event's fields about them: the profile is sealed with it too.
        for part in personal.get(SEALED, ()):
            if part.get("of") == "person":
                sealing[person] = part["key"]
    changed = [person for person in people if after[person] != before.get(person)]
    if not changed:
        return [], []
    opening = keys.opening({sealing[p] for p in changed if p in sealing}, connection)
    profiles_written, gained = [], set()
    for person in changed:
        profile, key_id = after[person], sealing.get(person)
        if key_id is not None and key_id in opening:
            parts = seal(UUID(person), profile, (UUID(key_id), opening[key_id]), None)
            text = json.dumps(stored_form(parts))
        elif key_id is None:
            text = json.dumps(profile)
        else:
            continue  # the person's key was destroyed: erased, nothing to keep
        profiles_written.append({"person_id": person, "profile": text, "updated_at": now})
        gained.update((key, person) for key in keys_of(profile) - keys_of(before.get(person, {})))
    return profiles_written, search_keys.rows(search_keys.secret(keys, now), gained)


def profiles(engine: Engine, only: Collection[str] | None = None) -> dict[UUID, Profile]:
    """What every live record (or only these) says about who the person is, for search and matching."""
    live = select(journeys.c.person_id, journeys.c.state, profile_rows.c.profile).outerjoin(
        profile_rows, profile_rows.c.person_id == journeys.c.person_id).where(journeys.c.merged_into.is_(None))
    with engine.connect() as connection:
        if only is None:
            rows = connection.execute(live).all()
        else:
            wanted, rows = sorted(only), []
            for start in range(0, len(wanted), _CHUNK):  # under the databases' limits on parameters
                rows += connection.execute(live.where(journeys.c.person_id.in_(wanted[start:start + _CHUNK]))).all()
    opened = keyring(engine).personal([(row.person_id, row.profile) for row in rows])
    result = {}
    for row, profile in zip(rows, opened, strict=True):
        state = row.state or {}
        born = profile.get("date_of_birth")
        result[UUID(row.person_id)] = Profile(
            person_id=UUID(row.person_id), names=frozenset(profile.get("names", ())),
            date_of_birth=date.fromisoformat(born) if born else None, areas=frozenset(profile.get("areas", ())),
            description_words=frozenset(profile.get("words", ())),
            not_same_as=frozenset(UUID(i) for i in state.get("not_same_as", ())),
        )
    return result


def forget(connection: Connection, people: Collection[str]) -> None:
    """Delete these records' profiles and search keys (erasure, in its transaction)."""
    people = list(people)
    for start in range(0, len(people), _CHUNK):
        some = people[start:start + _CHUNK]
        connection.execute(delete(profile_rows).where(profile_rows.c.person_id.in_(some)))
    search_keys.forget_people(connection, people)


def backfill(engine: Engine, now: datetime, people_at_once: int = 500) -> int:
    """Profiles for the journeys stored before profiles were kept (the read model's upgrade):
    done when there are none and the timeline has some. How many people it made profiles for."""
    table = timeline_entries.c
    with engine.connect() as connection:
        if connection.execute(select(func.count()).select_from(profile_rows)).scalar():
            return 0
        people = sorted(connection.execute(select(table.person_id).distinct().where(
            table.type.in_(SAYS_WHO))).scalars())
    made = 0
    for start in range(0, len(people), people_at_once):
        with engine.begin() as connection:
            said = connection.execute(
                select(table.person_id, table.event_id, table.data, table.occurred_at, table.personal)
                .where(table.type.in_(SAYS_WHO), table.person_id.in_(people[start:start + people_at_once]))).all()
            written, keys = _grow(connection, [(row.person_id, row.event_id, (row.data or {}).get("area_code"),
                                                row.occurred_at, row.personal or {}) for row in said], now)
            if written:
                connection.execute(upsert(connection.dialect.name), written)
            if keys:
                connection.execute(search_keys.new_keys(connection.dialect.name), keys)
            made += len(written)
    return made
