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
import weakref
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from itertools import islice
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import Connection, Engine, Text, delete, event, func, null, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite

from journey.applied import Applied
from journey.matching import Profile, description_words, profile_keys
from readmodel import search_keys
from readmodel.data_keys import keyring
from readmodel.tables import journeys, of_types, projections, timeline_entries
from readmodel.tables import profiles as profile_rows
from readmodel.writes import mark_made
from schemas.sealed import SEALED, SealedPart, seal, sealed_keys, stored_form

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
        "profile": insert.excluded.profile, "version": insert.excluded.version,
        "updated_at": insert.excluded.updated_at})


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
                               u.event.time, _boxes(u.event.sealed) if u.event.sealed
                               else u.event.personal.model_dump(mode="json", exclude_none=True)) for u in said], now)


def _boxes(parts: Sequence[SealedPart]) -> dict[str, Any]:
    # What opening reads of a stored personal part, without pydantic's dump of every part.
    return {SEALED: [{"of": p.of, "key": str(p.key), "box": p.box} for p in parts]}


class _Known:
    """The profiles a process wrote lately, opened, with the key that sealed each and the row's
    version: a person's next contact is compared with it instead of opening the row again (that
    was half of what the projection cost the worker), as long as the row is still at that
    version (another worker may have grown it since its partition moved). Only what a
    transaction committed is known; a rolled-back write is forgotten with its transaction."""

    MOST = 10_000

    def __init__(self, engine: Engine) -> None:
        self.profiles: OrderedDict[str, tuple[dict[str, Any], str | None, int]] = OrderedDict()
        event.listen(engine, "commit", self._committed)
        event.listen(engine, "rollback", self._rolled_back)

    def stage(self, connection: Connection, written: Mapping[str, tuple[dict[str, Any], str | None, int]]) -> None:
        connection.info.setdefault(_PENDING, {}).update(written)

    def _committed(self, connection: Connection) -> None:
        if pending := connection.info.pop(_PENDING, None):
            self.profiles.update(pending)
            for person in pending:
                self.profiles.move_to_end(person)
            while len(self.profiles) > self.MOST:
                self.profiles.popitem(last=False)

    def _rolled_back(self, connection: Connection) -> None:
        connection.info.pop(_PENDING, None)

    def forget(self, people: Collection[str]) -> None:
        for person in people:
            self.profiles.pop(person, None)


_PENDING = "journeys.profiles.pending"
_KNOWN: weakref.WeakKeyDictionary[Engine, _Known] = weakref.WeakKeyDictionary()


def forget_known(engine: Engine) -> None:
    """Forget every profile this process remembers writing (a write that failed, maybe at its commit)."""
    if (known := _KNOWN.get(engine)) is not None:
        known.profiles.clear()


def _known(engine: Engine) -> _Known:
    if (known := _KNOWN.get(engine)) is None:
        known = _KNOWN[engine] = _Known(engine)
    return known


def _grow(connection: Connection, said: Sequence[tuple[str, str, str | None, datetime, Mapping[str, Any]]],
          now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`said`: (person, event id, area, event time, stored personal part) of events that say who someone is."""
    people = sorted({person for person, *_ in said})
    known = _known(connection.engine)
    before: dict[str, dict[str, Any]] = {}
    sealing: dict[str, str] = {}
    versions: dict[str, int] = {}
    stored: dict[str, Mapping[str, Any]] = {}
    for start in range(0, len(people), _CHUNK):
        for person, version, text in connection.execute(
                select(profile_rows.c.person_id, profile_rows.c.version, type_coerce(profile_rows.c.profile, Text))
                .where(profile_rows.c.person_id.in_(people[start:start + _CHUNK]))):
            versions[person] = version
            hit = known.profiles.get(person)
            if hit is not None and hit[2] == version:
                before[person] = hit[0]
                if hit[1] is not None:
                    sealing[person] = hit[1]
            else:
                stored[person] = _json(text)
    keys = keyring(connection.engine)
    before.update(zip(stored, keys.personal([(person, box) for person, box in stored.items()], connection),
                      strict=True))
    sealing.update({person: next(iter(sealed_keys(box))) for person, box in stored.items() if sealed_keys(box)})
    heard = keys.personal([(event_id, personal) for _, event_id, _, _, personal in said], connection)
    after = {person: dict(profile) for person, profile in before.items()}
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
    profiles_written, gained, written = [], set(), {}
    for person in changed:
        profile, key_id = after[person], sealing.get(person)
        if key_id is not None and key_id in opening:
            parts = seal(UUID(person), profile, (UUID(key_id), opening[key_id]), None)
            text = json.dumps(stored_form(parts))
        elif key_id is None:
            text = json.dumps(profile)
        else:
            continue  # the person's key was destroyed: erased, nothing to keep
        version = versions.get(person, 0) + 1
        profiles_written.append({"person_id": person, "profile": text, "version": version, "updated_at": now})
        gained.update((key, person) for key in keys_of(profile) - keys_of(before.get(person, {})))
        written[person] = (profile, key_id, version)
    known.stage(connection, written)
    return profiles_written, search_keys.rows(search_keys.secret(keys, now), gained)


def profiles(engine: Engine, only: Collection[str] | None = None, *, splits: bool = True) -> dict[UUID, Profile]:
    """What every live record (or only these) says about who the person is, for search and
    matching (`splits`: with the records a person said are someone else, which only matching needs)."""
    # Neither column is parsed by SQLAlchemy's JSON type: of the journey's state only the pairs a
    # person split (most have none), the profile by msgspec (json.loads of every state and profile
    # was most of a search's time).
    split = (null() if not splits else func.json_extract(journeys.c.state, "$.not_same_as")
             if engine.dialect.name == "sqlite" else journeys.c.state.op("->>")("not_same_as"))
    live = select(journeys.c.person_id, type_coerce(split, Text).label("split"),
                  type_coerce(profile_rows.c.profile, Text).label("profile")).outerjoin(
        profile_rows, profile_rows.c.person_id == journeys.c.person_id).where(journeys.c.merged_into.is_(None))
    with engine.connect() as connection:
        if only is None:
            rows = connection.execute(live).all()
        else:
            wanted, rows = sorted(only), []
            for start in range(0, len(wanted), _CHUNK):  # under the databases' limits on parameters
                rows += connection.execute(live.where(journeys.c.person_id.in_(wanted[start:start + _CHUNK]))).all()
    opened = keyring(engine).personal([(row.person_id, _json(row.profile)) for row in rows])
    result = {}
    for row, profile in zip(rows, opened, strict=True):
        person, born = UUID(row.person_id), profile.get("date_of_birth")
        result[person] = Profile(
            person_id=person, names=frozenset(profile.get("names", ())),
            date_of_birth=date.fromisoformat(born) if born else None, areas=frozenset(profile.get("areas", ())),
            description_words=frozenset(profile.get("words", ())),
            not_same_as=frozenset(UUID(i) for i in _json(row.split) or ()),
        )
    return result


# From how many candidates walking every live record by recency (an index alone) is cheaper than
# looking each one up: at a million events, 10,000 lookups took ~100 ms, and a common name's
# twenty most recent are a few hundred records into the walk.
WALK_FROM = 2_000
_WALK_PART = 4_000  # rows a walk fetches at a time


def recent_first(engine: Engine, people: Collection[str]) -> Iterator[str]:
    """These records, live ones only, the most recently seen first (then by id, those never seen
    last), as many as the reader takes: the order search reads them in (journey.matching.found)."""
    seen = journeys.c.last_seen
    if len(people) < WALK_FROM:
        wanted, found = sorted(people), []
        with engine.connect() as connection:
            for start in range(0, len(wanted), _CHUNK):
                found += connection.execute(select(seen, journeys.c.person_id).where(
                    journeys.c.person_id.in_(wanted[start:start + _CHUNK]), journeys.c.merged_into.is_(None))).all()
        found.sort(key=lambda row: (row.last_seen is not None, row.last_seen, row.person_id), reverse=True)
        yield from (row.person_id for row in found)
        return
    wanted = set(people)
    live = select(journeys.c.person_id).where(journeys.c.merged_into.is_(None))
    with engine.connect() as connection:
        for walk in (live.where(seen.is_not(None)).order_by(seen.desc(), journeys.c.person_id.desc()),
                     live.where(seen.is_(None)).order_by(journeys.c.person_id.desc())):
            for part in connection.execution_options(yield_per=_WALK_PART).execute(walk).scalars().partitions():
                yield from (person for person in part if person in wanted)


def read_in_order(engine: Engine, people: Iterable[str], first: int = 50) -> Iterator[Profile]:
    """These records' profiles (without the split pairs) in the order given, read and opened a
    few at a time, as many as the reader takes: the first few, then twice as many each time."""
    ordered, size = iter(people), first
    while some := list(islice(ordered, size)):
        got = profiles(engine, only=some, splits=False)
        yield from (got[person] for person in map(UUID, some) if person in got)
        size = min(size * 2, _CHUNK)


def _json(value: Any) -> Any:
    # Text from SQLite; PostgreSQL's driver may already have parsed a json value.
    return msgspec.json.decode(value) if isinstance(value, str) else value


def forget(connection: Connection, people: Collection[str]) -> None:
    """Delete these records' profiles and search keys (erasure, in its transaction)."""
    people = list(people)
    for start in range(0, len(people), _CHUNK):
        some = people[start:start + _CHUNK]
        connection.execute(delete(profile_rows).where(profile_rows.c.person_id.in_(some)))
    search_keys.forget_people(connection, people)
    _known(connection.engine).forget(people)


# What the search keys of every profile are made with: a change to journey.matching.profile_keys
# means they must be made again (2: with the month of birth, which proposals bound scores by).
KEYS_NAME, KEYS_MADE_FOR = "search_keys", "version=2"


def keys_complete(engine: Engine) -> bool:
    """Whether every profile has the keys profile_keys gives today (a worker made them, `rekey`)."""
    with engine.connect() as connection:
        return connection.execute(select(projections.c.made_for).where(
            projections.c.name == KEYS_NAME)).scalar() == KEYS_MADE_FOR


def rekey(engine: Engine, now: datetime, people_at_once: int = 2_000) -> int:
    """Every profile's keys as profile_keys gives them today, if they were made otherwise (a
    worker's start after an upgrade); how many profiles it read. Keys are only added: one a
    record no longer has only makes it a candidate more."""
    if keys_complete(engine):
        return 0
    with engine.connect() as connection:
        people = sorted(connection.execute(select(profile_rows.c.person_id)).scalars())
    code = search_keys.secret(keyring(engine), now)
    for start in range(0, len(people), people_at_once):
        some = people[start:start + people_at_once]
        with engine.begin() as connection:
            rows = connection.execute(select(profile_rows.c.person_id, type_coerce(profile_rows.c.profile, Text))
                                      .where(profile_rows.c.person_id.in_(some))).all()
            opened = keyring(engine).personal([(person, _json(text)) for person, text in rows], connection)
            wanted = {(key, person) for (person, _), profile in zip(rows, opened, strict=True)
                      for key in keys_of(profile)}
            if wanted:
                connection.execute(search_keys.new_keys(connection.dialect.name), search_keys.rows(code, wanted))
    with engine.begin() as connection:
        mark_made(connection, KEYS_NAME, KEYS_MADE_FOR)
    return len(people)


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
                .where(of_types(SAYS_WHO), table.person_id.in_(people[start:start + people_at_once]))).all()
            written, keys = _grow(connection, [(row.person_id, row.event_id, (row.data or {}).get("area_code"),
                                                row.occurred_at, row.personal or {}) for row in said], now)
            if written:
                connection.execute(upsert(connection.dialect.name), written)
            if keys:
                connection.execute(search_keys.new_keys(connection.dialect.name), keys)
            made += len(written)
    return made
