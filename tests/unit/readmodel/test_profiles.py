"""A profile grows the same whatever order its events arrive in (phones go offline)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from functools import reduce
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

import handlers
from journey.applied import Applied
from journey.statistics import Rules
from readmodel import profiles as profile_module
from readmodel.data_keys import keyring
from readmodel.database import read_model
from readmodel.people import proposed_matches
from readmodel.profiles import grown, keys_complete, profiles, recent_first, rekey
from readmodel.search_keys import hashed, secret
from readmodel.tables import journeys, search_keys
from schemas.events import ContactPersonal
from schemas.settings import Settings
from streams.projector import project
from tests.events import contact

NOON = datetime(2026, 3, 4, 12, tzinfo=UTC)

said = st.tuples(
    st.fixed_dictionaries({}, optional={
        "known_as": st.sampled_from(["Dave", "Davey Smith", "Kel"]),
        "aliases": st.lists(st.sampled_from(["Smithy", "D"]), max_size=2).map(tuple),
        "date_of_birth": st.sampled_from(["1980-01-01", "1981-04-05", "1979-12-31"]),
        "person_description": st.sampled_from(["red coat", "grey beard, red hat"]),
    }),
    st.sampled_from([None, "TC-MARKET", "TC-STATION"]),
    st.integers(0, 5).map(lambda hours: NOON + timedelta(hours=hours)),
)


@given(st.lists(said, max_size=8), st.randoms())
def test_the_same_events_in_any_order_make_the_same_profile(events: list[Any], rng: Any) -> None:
    shuffled = list(events)
    rng.shuffle(shuffled)
    def fold(items: list[Any]) -> dict[str, Any]:
        return reduce(lambda profile, e: grown(profile, *e), items, {})
    assert fold(shuffled) == fold(events)
    assert fold(events + events) == fold(events)  # a redelivered event changes nothing


def test_a_worker_that_remembers_a_profile_another_worker_grew_since_reads_it_again(tmp_path: Path) -> None:
    # Two workers on one read model, as when a partition moves from one to the other and back:
    # each remembers the profiles it wrote, and must not write over what the other added.
    settings = Settings(state_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'rm.db'}")
    first, second = read_model(settings), read_model(settings)
    person, history = uuid4(), None

    def contact_by(engine: Engine, hours: int, **said: Any) -> None:
        nonlocal history
        event = contact(person, NOON + timedelta(hours=hours), area=said.pop("area", "TC-MARKET"))
        event = event.model_copy(update={"personal": ContactPersonal(**said)})
        recorded = handlers.record(history, event, settings.zone, timedelta(days=settings.journey_refold_days))
        history = recorded.history
        project(engine, [Applied(o.journey, o.entry, e, history=history) for o, e in recorded.published], NOON,
                Rules.configured(settings))

    contact_by(first, 0, known_as="Dave")
    contact_by(second, 1, known_as="Dave", aliases=("Smithy",))
    contact_by(first, 2, known_as="Dave", area="TC-STATION")  # what `first` remembers is a version behind
    found = profiles(first, only=[str(person)])[person]
    assert found.names == {"Dave", "Smithy"} and found.areas == {"TC-MARKET", "TC-STATION"}


def test_search_reads_candidates_the_most_recently_seen_first_whichever_way_it_reads_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = read_model(Settings(state_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'rm.db'}"))
    rng = random.Random(5)
    rows = [{"person_id": str(uuid4()), "sequence": 1, "stage": "contacted", "reports": 0, "contacts": 1,
             "rough_sleeping_nights": 0, "emergency_bed_nights": 0, "provisional": 0, "updated_at": NOON,
             "last_seen": None if n % 9 == 0 else NOON - timedelta(hours=rng.randrange(12)),  # ties too
             "merged_into": str(uuid4()) if n % 7 == 0 else None} for n in range(60)]
    with engine.begin() as connection:
        connection.execute(journeys.insert(), rows)
    live = [r for r in rows if r["merged_into"] is None]
    expected = [r["person_id"] for r in sorted(
        live, key=lambda r: (r["last_seen"] is not None, r["last_seen"] or NOON, r["person_id"]), reverse=True)]
    wanted = [r["person_id"] for r in rows if rng.random() < 0.7]
    in_order = [p for p in expected if p in wanted]
    looked_up = list(recent_first(engine, wanted))
    monkeypatch.setattr(profile_module, "WALK_FROM", 1)  # as for a common name's thousands: walked
    walked = list(recent_first(engine, wanted))
    assert looked_up == walked == in_order
    assert len(in_order) > 20 and any(r["last_seen"] is None for r in rows if r["person_id"] in in_order)


def test_proposals_open_only_what_could_be_proposed_once_every_profile_has_todays_keys(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'rm.db'}")
    engine, rules, rng = read_model(settings), Rules.configured(settings), random.Random(8)
    people = [uuid4() for _ in range(40)]
    for n, person in enumerate(people):
        event = contact(person, NOON + timedelta(minutes=n), area=rng.choice(("TC-MARKET", "TC-STATION", "TC-PARK")))
        event = event.model_copy(update={"personal": ContactPersonal(
            known_as=rng.choice(("Dave", "Davey", "Kel Smith", "Kelly")),
            date_of_birth=rng.choice((None, "1980-02-01", "1980-02-20", "1979-12-31")))})
        recorded = handlers.record(None, event, settings.zone, timedelta(days=settings.journey_refold_days))
        project(engine, [Applied(o.journey, o.entry, e, history=recorded.history) for o, e in recorded.published],
                NOON, rules)
    # A read model whose keys an earlier version made: without the month of birth.
    with engine.begin() as connection:
        connection.execute(search_keys.delete().where(search_keys.c.key.in_(
            hashed(secret(keyring(engine), NOON), [f"bm:{d[:7]}" for d in ("1980-02-01", "1979-12-31")]))))
    assert not keys_complete(engine)
    everything = {p: proposed_matches(engine, p, NOON) for p in people}  # every candidate opened
    assert rekey(engine, NOON) == 40 and keys_complete(engine) and rekey(engine, NOON) == 0
    assert {p: proposed_matches(engine, p, NOON) for p in people} == everything
    assert sum(len(m or ()) for m in everything.values()) > 20
