"""The statistics projection gives the figures the whole timeline gives, for any history, any
arrival order, any period and area (issue 28): the worker's spans and the reader's small loads
against journey/statistics.py run over every fact, on one SQLite read model."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select

import handlers
from journey.applied import Applied
from journey.history import History
from journey.statistics import STATUS_TYPES, Known, Rules, all_statistics, in_time_order
from readmodel.database import read_model
from readmodel.statistics import facts_from_timeline, remake, statistics
from readmodel.tables import projections, statistics_known, statistics_statuses
from schemas.events import RiskDetails, RiskFactor, RiskPersonal, RiskReported
from schemas.settings import Settings
from streams.projector import project
from tests.events import accommodation, bed, case, contact, duty, identity, progress, report, work

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
AREAS = ["TC-MARKET", "TC-STATION"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Settings, Rules]:
    folder: Path = tmp_path_factory.mktemp("statistics")
    configured = Settings(state_dir=folder, database_url=f"sqlite:///{folder / 'rm.db'}", case_inactive_after_days=10)
    engine = read_model(configured)
    rules = Rules.configured(configured)
    remake(engine, rules)
    return engine, configured, rules


def _events(person: UUID, kind: int, minutes: int, area: str, flag: bool) -> list[Any]:
    at = T0 + timedelta(minutes=minutes)
    if kind <= 2:
        return [contact(person, at, bedded_down=kind < 2 or flag, area=area)]
    if kind == 3:
        return [bed(person, at, "checked_in")]
    if kind == 4:
        return [accommodation(person, at, random.Random(minutes).choice(
            ["tenancy_started", "supported_housing_entered", "reconnected"]))]
    if kind == 5:
        return [case(person, at, "closed" if flag else "reopened")]
    if kind == 6:
        return [work(person, at, "course_enrolled"), duty(person, at, "prevention_started" if flag
                                                           else "prevention_ended")]
    if kind == 8:  # eyes and ears: was the person reported at risk seen rough later?
        return [RiskReported(id=uuid4(), source="job-centre", actor="m1", subject=person, time=at, recorded_at=at,
                             data=RiskDetails(urgency="within_56_days", consent_to_refer=False, area_code=area),
                             personal=RiskPersonal(factors=(RiskFactor.RENT_ARREARS,)))]
    received = report(person, at, area=area)
    steps = [progress(person, at + timedelta(hours=1), "routed", received.id, due_by=at + timedelta(hours=3))]
    if flag:
        steps.append(progress(person, at + timedelta(hours=2 + minutes % 5), "attempted", received.id))
        steps.append(progress(person, at + timedelta(hours=7), "outcome", received.id, outcome="found_and_engaged"))
    return [received, *steps]


history_strategy = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from([0, 0, 1, 2, 3, 4, 5, 6, 7, 8]), st.integers(0, 60 * 24 * 60),
              st.sampled_from(AREAS), st.booleans()),
    max_size=30,
)
periods = st.tuples(st.integers(0, 60), st.sampled_from([1, 7, 28])).map(
    lambda p: (T0.date() + timedelta(days=p[0]), T0.date() + timedelta(days=p[0] + p[1])))


@given(history_strategy, st.sampled_from([None, "merged", "linked"]), st.lists(periods, min_size=1, max_size=3),
       st.sampled_from([None, *AREAS]), st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_projection_gives_the_whole_timelines_figures(
        model: tuple[Engine, Settings, Rules], history: list[Any], joined: str | None,
        wanted: list[tuple[date, date]], area: str | None, rng: random.Random) -> None:
    engine, configured, rules = model
    people = [uuid4() for _ in range(4)]
    events = [e for who, kind, minutes, where, flag in history
              for e in _events(people[who], kind, minutes, where, flag)]
    if joined:
        events.append(identity(people[1], people[0], joined, T0 + timedelta(days=3)))
        if joined == "merged":
            events.append(identity(people[0], people[1], "absorbed", T0 + timedelta(days=3)))
    # Phones go offline: any arrival order. Mostly in time order with a few late (as in the
    # field, and where the worker goes on from what it kept), or all shuffled.
    events.sort(key=lambda e: e.time)
    if rng.random() < 0.5:
        rng.shuffle(events)
    else:
        for _ in range(rng.randrange(3)):
            late = events.pop(rng.randrange(len(events))) if events else None
            if late is not None:
                events.append(late)
    _apply(engine, configured, rules, events, rng)
    projected = statistics(engine, periods=wanted, area=area, rules=rules)
    with engine.connect() as connection:
        facts = facts_from_timeline(connection, max(datetime(e.year, e.month, e.day, tzinfo=rules.zone)
                                                    for _, e in wanted) + timedelta(days=1))
    for figures, (start, end) in zip(projected, wanted, strict=True):
        assert {k: v for k, v in figures.items() if k not in ("start", "end", "area")} == \
            all_statistics(facts, start, end, rules, area)


def _apply(engine: Engine, configured: Settings, rules: Rules, events: list[Any], rng: random.Random) -> None:
    """As the worker: each event into its person's history, the read model written in batches."""
    window = timedelta(days=configured.journey_refold_days)
    histories: dict[UUID, History] = {}
    batch: list[Applied] = []
    for event in events:
        recorded = handlers.record(histories.get(event.subject), event, configured.zone, window)
        histories[event.subject] = recorded.history
        batch.extend(Applied(o.journey, o.entry, e, refolded=e is not event, history=recorded.history)
                     for o, e in recorded.published)
        if rng.random() < 0.3:
            project(engine, batch, T0, rules)
            batch = []
    project(engine, batch, T0, rules)


def test_a_projection_made_for_other_rules_is_made_again_and_not_trusted_meanwhile(
        model: tuple[Engine, Settings, Rules]) -> None:
    engine, configured, rules = model
    person = uuid4()
    _apply(engine, configured, rules, [contact(person, T0 + timedelta(days=1))], random.Random(1))
    period = {"start": T0.date(), "end": T0.date() + timedelta(days=28), "area": None, "rules": rules}
    before = statistics(engine, **period)
    longer = Rules(zone=rules.zone, inactive_after_days=40)
    with engine.begin() as connection:
        connection.execute(delete(statistics_statuses))  # what a projection for other rules would not hold
    # Made for `rules`, read for `longer`: worked out from the whole timeline, right for `longer`.
    with engine.connect() as connection:
        # The horizon the reader uses for this period (the end of its end date): not the hour
        # the test runs, which may come before these facts.
        end = period["end"]
        facts = facts_from_timeline(connection, datetime(end.year, end.month, end.day, tzinfo=rules.zone)
                                    + timedelta(days=1))
    assert statistics(engine, **{**period, "rules": longer})["built_for_zero"] == \
        all_statistics(facts, period["start"], period["end"], longer)["built_for_zero"]
    assert remake(engine, longer) > 0 and remake(engine, longer) == 0  # once
    assert remake(engine, rules) > 0
    assert statistics(engine, **period) == before
    with engine.connect() as connection:
        assert connection.execute(projections.select()).one().made_for.endswith("inactive_after_days=10")


def test_reported_at_risk_in_a_period_and_seen_rough_after_its_end_counts_as_the_timeline_says(
        model: tuple[Engine, Settings, Rules]) -> None:
    # The figures see facts up to the end of the period's end date: a contact that evening is
    # "later seen sleeping rough" for a report in the period. The projection must read it too.
    engine, configured, rules = model
    start, end = T0.date() + timedelta(days=70), T0.date() + timedelta(days=77)
    person = uuid4()
    evening = datetime(end.year, end.month, end.day, 18, tzinfo=rules.zone)
    _apply(engine, configured, rules, [*_events(person, 8, 60 * 24 * 72, AREAS[0], True),
                                       contact(person, evening)], random.Random(2))
    projected = statistics(engine, start=start, end=end, area=None, rules=rules)["prevention"]
    with engine.connect() as connection:
        facts = facts_from_timeline(connection, datetime(end.year, end.month, end.day, tzinfo=rules.zone)
                                    + timedelta(days=1))
    assert projected == all_statistics(facts, start, end, rules)["prevention"]
    assert projected["later_seen_sleeping_rough"] >= 1


@given(st.lists(st.tuples(st.sampled_from([0, 0, 1, 3, 4, 5]), st.integers(0, 60 * 24 * 60), st.booleans()),
                min_size=1, max_size=20), st.randoms(use_true_random=False))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_what_is_kept_of_a_record_is_what_all_its_facts_say(
        model: tuple[Engine, Settings, Rules], history: list[Any], rng: random.Random) -> None:
    """statistics_known decides whether a batch goes on from it or makes the spans again: kept
    stale (a field not written over), a late fact would be taken as a later one."""
    engine, configured, rules = model
    person = uuid4()
    events = sorted((e for kind, minutes, flag in history for e in _events(person, kind, minutes, AREAS[0], flag)),
                    key=lambda e: e.time)
    for _ in range(rng.randrange(3)):
        events.append(events.pop(rng.randrange(len(events))))
    _apply(engine, configured, rules, events, rng)
    expected = Known()
    with engine.connect() as connection:
        facts = [f for f in facts_from_timeline(connection, T0 + timedelta(days=400))
                 if f.person == str(person) and f.type in STATUS_TYPES]
        for fact in sorted(facts, key=in_time_order):
            expected.take(fact)
        kept = connection.execute(select(statistics_known).where(statistics_known.c.person_id == str(person))).one()
    assert Known(kept.homeless, kept.housed, kept.contact, kept.closed, kept.close_reason, kept.latest) == expected
