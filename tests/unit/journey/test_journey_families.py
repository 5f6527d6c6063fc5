"""Every event family on the journey, identity decisions, and the properties they keep."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

import handlers
from journey.history import History, order_key
from journey.identity import Alias, alias_after, combined
from journey.reports import Routing, is_overdue
from journey.state import Journey, status_today
from schemas.ids import provisional_person_id
from schemas.progress import Stage
from tests.events import (
    T0,
    accommodation,
    bed,
    case,
    contact,
    duty,
    identity,
    progress,
    report,
    work,
)

LONDON = ZoneInfo("Europe/London")
PEOPLE = [uuid.UUID(f"00000000-0000-4000-8000-00000000000{i}") for i in range(1, 4)]


def fold(events: list, journey: Journey | None = None) -> Journey | None:
    """One handler step after another, in the order given (the behaviour of each family)."""
    for event in events:
        journey = handlers.apply(journey, event, LONDON).journey
    return journey


# ---------------------------------------------------------------- behaviour, family by family


def test_a_report_about_someone_unnamed_starts_a_provisional_person_whom_a_contact_confirms() -> None:
    first = report(None, T0)
    person = provisional_person_id(first.id)
    journey = fold([first.model_copy(update={"subject": person})])
    assert journey.provisional and journey.open_reports[0].report_id == first.id
    assert fold([contact(person, T0 + timedelta(hours=1))], journey).provisional is False
    # Someone an outreach worker named from the start was never provisional.
    assert fold([report(PEOPLE[0], T0)]).provisional is False


def test_a_report_is_open_until_its_outcome_with_routing_and_the_first_attempt() -> None:
    received = report(PEOPLE[0], T0)
    due = T0 + timedelta(hours=12)
    journey = fold([
        received,
        progress(PEOPLE[0], T0, "routed", received.id, team="town-centre-outreach", due_by=due),
        progress(PEOPLE[0], T0 + timedelta(hours=9), "attempted", received.id),
        progress(PEOPLE[0], T0 + timedelta(hours=5), "attempted", received.id),
    ])
    (open_report,) = journey.open_reports
    assert (open_report.team, open_report.due_by, open_report.attempted_at) == (
        "town-centre-outreach", due, T0 + timedelta(hours=5))
    closed = handlers.apply(journey, progress(PEOPLE[0], T0 + timedelta(hours=6), "outcome", received.id,
                                              outcome="not_found"), LONDON)
    assert closed.journey.open_reports == ()
    assert closed.entry.summary == "Report outcome: not found"


def test_routing_and_the_overdue_flag_follow_the_area() -> None:
    routing = Routing(teams={"*": "Borough", "TC": "Town"}, response_hours={"*": 24, "TC": 2})
    assert (routing.team_for("TC"), routing.team_for("X"), routing.team_for(None)) == ("Town", "Borough", "Borough")
    due = routing.due_by("TC", T0)
    assert due == T0 + timedelta(hours=2)
    assert not is_overdue(due, None, None, T0 + timedelta(hours=1))
    assert is_overdue(due, None, None, T0 + timedelta(hours=3))
    assert not is_overdue(due, T0 + timedelta(hours=1), None, T0 + timedelta(days=9))
    assert is_overdue(due, T0 + timedelta(hours=4), None, T0 + timedelta(days=9))  # attempted, but late


def test_stages_move_with_accommodation_and_a_return_to_the_street_is_seen_bedded_down() -> None:
    p = PEOPLE[0]
    steps = [
        (contact(p, T0, engaged=False), Stage.CONTACTED),
        (contact(p, T0 + timedelta(days=1)), Stage.ENGAGED),
        (bed(p, T0 + timedelta(days=2), "checked_in"), Stage.EMERGENCY_ACCOMMODATION),
        (accommodation(p, T0 + timedelta(days=3), "supported_housing_entered"), Stage.SUPPORTED_ACCOMMODATION),
        (accommodation(p, T0 + timedelta(days=30), "tenancy_started"), Stage.TENANCY),
        (contact(p, T0 + timedelta(days=31), bedded_down=False), Stage.TENANCY),  # a visit at home
        (accommodation(p, T0 + timedelta(days=200), "tenancy_sustained_6_months"), Stage.TENANCY),
        (contact(p, T0 + timedelta(days=250)), Stage.RETURNED_TO_STREET),
        (accommodation(p, T0 + timedelta(days=260), "reconnected"), Stage.RECONNECTED),
    ]
    journey = None
    for event, stage in steps:
        journey = fold([event], journey)
        assert journey.stage is stage, event.type
    assert journey.accommodation == "reconnected" and journey.last_contact == T0 + timedelta(days=250)


def test_training_and_work_are_strands_beside_the_stage() -> None:
    p = PEOPLE[0]
    journey = fold([contact(p, T0), work(p, T0, "course_enrolled"), work(p, T0, "session_attended"),
                    work(p, T0, "job_started"), work(p, T0, "job_sustained_13_weeks"), work(p, T0, "course_left")])
    assert (journey.stage, journey.training, journey.work) == (Stage.ENGAGED, "left_course", "sustained_13_weeks")


def test_duties_open_and_end_with_their_outcome_and_the_case_closes_and_reopens() -> None:
    p = PEOPLE[0]
    journey = fold([duty(p, T0, "prevention_started")])
    assert journey.duty == "prevention"
    journey = fold([duty(p, T0, "prevention_ended"), case(p, T0, "key_worker_assigned"),
                    case(p, T0, "strengths_recorded"), case(p, T0, "closed")], journey)
    assert (journey.duty, journey.duty_outcomes) == (None, ("prevention:accommodation_secured",))
    assert (journey.case.key_worker, journey.case.close_reason) == ("KW1", "moved_away")
    assert journey.case.strengths_recorded_at == T0
    assert fold([case(p, T0, "reopened")], journey).case.closed_at is None


def test_summaries_carry_no_personal_part() -> None:
    outcome = handlers.apply(None, case(PEOPLE[0], T0, "strengths_recorded"), LONDON)
    assert "cooking" not in outcome.entry.summary


def test_the_identity_step_follows_a_merge_until_it_is_undone_or_split() -> None:
    a, b = PEOPLE[0], PEOPLE[1]
    merged = alias_after(None, "identity.merged", b)
    assert merged == Alias(merged_into=b)
    assert alias_after(merged, "identity.merge_undone", b) is None
    assert alias_after(merged, "identity.split", b) is None
    assert alias_after(merged, "identity.split", a) == merged  # a split from someone else changes nothing
    assert alias_after(None, "identity.linked", b) is None


def test_a_combined_view_covers_every_record_and_keeps_the_survivors_stage() -> None:
    a = fold([contact(PEOPLE[0], T0, area="A"), report(PEOPLE[0], T0 - timedelta(days=3))])
    b = fold([contact(PEOPLE[1], T0 + timedelta(days=1), engaged=False)])
    view = combined(b, [a])
    assert (view.person_id, view.stage, view.contacts, view.reports) == (PEOPLE[1], Stage.CONTACTED, 2, 1)
    assert view.first_seen == T0 - timedelta(days=3) and len(view.rough_sleeping_nights) == 2


# ---------------------------------------------------------------- properties over every family

_STEPS = [
    lambda p, at: report(p, at),
    lambda p, at: contact(p, at),
    lambda p, at: contact(p, at, engaged=False, bedded_down=False),
    lambda p, at: bed(p, at, "checked_in"),
    lambda p, at: bed(p, at, "checked_out"),
    *(lambda p, at, s=s: accommodation(p, at, s) for s in
      ("supported_housing_entered", "tenancy_started", "tenancy_sustained_6_months", "evicted", "reconnected")),
    *(lambda p, at, s=s: work(p, at, s) for s in ("course_enrolled", "course_completed", "job_started", "job_left")),
    *(lambda p, at, s=s: duty(p, at, s) for s in ("prevention_started", "relief_started", "relief_ended")),
    *(lambda p, at, s=s: case(p, at, s) for s in ("key_worker_assigned", "strengths_recorded", "closed", "reopened")),
]

histories = st.lists(
    st.tuples(st.sampled_from(PEOPLE), st.integers(0, len(_STEPS) - 1), st.integers(0, 60 * 24 * 90)),
    max_size=40,
).map(lambda specs: [_STEPS[k](p, T0 + timedelta(minutes=m)) for p, k, m in specs])


WINDOW = timedelta(days=365)  # longer than any story here: every event keeps its place


def fold_by_person(events: list) -> dict[uuid.UUID, Journey]:
    """What the journey agent would hold, given the events in this arrival order."""
    histories: dict[uuid.UUID, History] = {}
    for event in events:
        histories[event.subject] = handlers.record(histories.get(event.subject), event, LONDON, WINDOW).history
    return {person: history.journey for person, history in histories.items()}


@given(histories)
def test_every_family_the_same_events_in_the_same_order_give_the_same_state(history: list) -> None:
    assert fold_by_person(history) == fold_by_person(history)


@given(histories, st.data())
def test_every_family_a_duplicated_event_changes_nothing(history: list, data: st.DataObject) -> None:
    if not history:
        return
    at = data.draw(st.integers(0, len(history) - 1))
    later = data.draw(st.integers(at, len(history)))
    duplicated = [*history[:later], history[at], *history[later:]]
    assert fold_by_person(duplicated) == fold_by_person(history)


@given(histories)
def test_one_persons_events_never_change_anothers_journey(history: list) -> None:
    together = fold_by_person(history)
    for person in PEOPLE:
        alone = fold_by_person([e for e in history if e.subject == person])
        assert together.get(person) == alone.get(person)


@given(histories, st.randoms(use_true_random=False))
def test_every_family_any_arrival_order_and_any_duplicates_give_the_same_journeys(
    history: list, random: Any
) -> None:
    arrived = list(history) + [random.choice(history) for _ in range(len(history) // 3)] if history else []
    random.shuffle(arrived)
    assert fold_by_person(arrived) == fold_by_person(history)


@given(histories)
def test_every_family_arrival_order_is_event_time_order(history: list) -> None:
    # The journey agent's fold equals the plain fold of the events sorted by when they happened.
    for person, journey in fold_by_person(history).items():
        mine = sorted((e for e in history if e.subject == person), key=order_key)
        assert journey == fold(mine)


@given(histories, histories)
@settings(max_examples=60)
def test_a_merge_followed_by_its_undo_restores_both_journeys_exactly(first: list, second: list) -> None:
    a, b = PEOPLE[0], PEOPLE[1]
    journey_a = fold([e.model_copy(update={"subject": a}) for e in first] or [report(a, T0)])
    journey_b = fold([e.model_copy(update={"subject": b}) for e in second] or [report(b, T0)])
    merged_a = fold([identity(a, b, "merged")], journey_a)
    merged_b = fold([identity(b, a, "absorbed")], journey_b)
    assert merged_a.merged_into == b and a in merged_b.merged
    undone_a = fold([identity(a, b, "merge_undone")], merged_a)
    undone_b = fold([identity(b, a, "merge_undone")], merged_b)
    bookkeeping = {"sequence"}
    assert undone_a.model_dump(exclude=bookkeeping) == journey_a.model_dump(exclude=bookkeeping)
    assert undone_b.model_dump(exclude=bookkeeping) == journey_b.model_dump(exclude=bookkeeping)


def test_a_split_pair_is_remembered_on_both_records() -> None:
    a, b = PEOPLE[0], PEOPLE[1]
    journey = fold([report(a, T0), identity(a, b, "merged"), identity(a, b, "split")])
    assert journey.merged_into is None and journey.not_same_as == (b,)


def test_a_night_is_local_noon_to_noon() -> None:
    # Not a family test, but the nights counted on the journey use the same rule as statistics.
    journey = fold([contact(PEOPLE[0], datetime(2026, 3, 2, 5, 0, tzinfo=UTC))])
    assert journey.rough_sleeping_nights == (date(2026, 3, 1),)


def test_the_status_today_agrees_with_built_for_zero() -> None:
    p = PEOPLE[0]
    seen = fold([contact(p, T0)])  # 22:00 on 1 March: the night of 1 March

    def status(journey: Journey, nights_later: int) -> str:
        # Each night's 05:00 (the early-morning walk), when "how long since we saw them" is asked.
        now = T0 + timedelta(days=nights_later, hours=7)
        return status_today(journey, now=now, zone=LONDON, inactive_after_days=90)

    assert status(seen, 89) == "active"
    assert status(seen, 90) == "inactive"  # after 90 nights without contact, as Built for Zero counts
    assert status(seen, 91) == "inactive"
    housed = fold([accommodation(p, T0 + timedelta(days=1), "tenancy_started")], seen)
    assert status(housed, 2) == "housed"
    closed = fold([case(p, T0 + timedelta(days=1), "closed")], seen)
    assert status(closed, 2) == "closed"
    merged = fold([identity(p, PEOPLE[1], "merged")], seen)
    assert status(merged, 0) == "merged"


def test_a_report_comes_before_its_routing_at_the_same_moment_whatever_their_ids() -> None:
    received = report(PEOPLE[0], T0)
    for _ in range(20):  # routing ids fall either side of the report's
        routed = progress(PEOPLE[0], T0, "routed", received.id, team="T", due_by=T0 + timedelta(hours=1))
        history = handlers.fold([routed, received], LONDON, WINDOW)
        assert [e.type for e in history.recent] == ["report.received", "report.routed"]
