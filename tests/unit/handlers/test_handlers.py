"""The pure handlers: a person's journey folded from their events."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

import handlers
from journey.history import History
from journey.nights import night_of
from journey.state import Journey
from schemas.events import (
    ContactDetails,
    ContactPersonal,
    ContactRecorded,
    ReportDetails,
    ReportPersonal,
    ReportReceived,
)
from schemas.progress import Stage
from tests.events import accommodation

PERSON = uuid.UUID("00000000-0000-4000-8000-000000000001")
T0 = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


def report(at: datetime = T0, person: uuid.UUID | None = PERSON, area: str = "TC-PARK") -> ReportReceived:
    return ReportReceived(
        id=uuid.uuid4(), source="council", actor="key1", subject=person, time=at, recorded_at=at,
        data=ReportDetails(channel="public", area_code=area), personal=ReportPersonal(),
    )


def contact(at: datetime, *, engaged: bool = True, bedded_down: bool = True) -> ContactRecorded:
    return ContactRecorded(
        id=uuid.uuid4(), source="outreach", actor="key2", subject=PERSON, time=at, recorded_at=at,
        data=ContactDetails(team="TCO", worker="W1", bedded_down=bedded_down, engaged=engaged),
        personal=ContactPersonal(),
    )


WINDOW = timedelta(days=365)  # longer than any story here: every event keeps its place


def fold(events: list, window: timedelta = WINDOW) -> Journey | None:
    history = handlers.fold(events, LONDON, window)
    return history.journey if history else None


def test_a_report_starts_a_journey_at_reported() -> None:
    outcome = handlers.apply(None, report(), LONDON)
    assert outcome is not None
    assert outcome.journey.stage is Stage.REPORTED
    assert (outcome.journey.reports, outcome.journey.first_seen, outcome.journey.last_area) == (1, T0, "TC-PARK")
    assert outcome.entry.summary == "Reported by public in TC-PARK"


def test_an_engaging_contact_moves_the_journey_to_engaged_and_counts_the_night() -> None:
    journey = fold([report(), contact(T0 + timedelta(hours=8))])
    assert journey.stage is Stage.ENGAGED
    # Seen bedded down at 06:00 on 2 March: that is the night of 1 March.
    assert journey.rough_sleeping_nights == (night_of(T0 + timedelta(hours=8), LONDON),)
    assert journey.rough_sleeping_nights[0].isoformat() == "2026-03-01"


def test_a_later_contact_without_engagement_does_not_undo_engagement() -> None:
    journey = fold([contact(T0), contact(T0 + timedelta(days=1), engaged=False)])
    assert journey.stage is Stage.ENGAGED
    assert journey.contacts == 2


def test_two_contacts_on_one_night_count_one_night() -> None:
    journey = fold([contact(T0 + timedelta(hours=1)), contact(T0 + timedelta(hours=7))])
    assert len(journey.rough_sleeping_nights) == 1


def test_a_late_event_widens_first_seen_without_moving_last_seen() -> None:
    journey = fold([contact(T0), report(at=T0 - timedelta(days=2))])
    assert (journey.first_seen, journey.last_seen) == (T0 - timedelta(days=2), T0)


def test_a_redelivered_event_changes_nothing_and_its_outputs_are_given_again() -> None:
    event = report()
    first = handlers.record(None, event, LONDON, WINDOW)
    again = handlers.record(first.history, event, LONDON, WINDOW)
    assert (first.redelivered, again.redelivered) == (False, True)
    assert again.history == first.history
    # A crash between the state write and the send lost nothing: the same outputs come again.
    assert again.published == first.published


def test_a_late_contact_from_before_a_tenancy_is_not_a_return_to_the_street() -> None:
    tenancy = accommodation(PERSON, T0 + timedelta(days=3), "tenancy_started")
    before = contact(T0 + timedelta(days=1))  # a phone that was offline sends it after the tenancy
    in_order, late = fold([contact(T0), before, tenancy]), fold([contact(T0), tenancy, before])
    assert late == in_order
    assert late.stage is Stage.TENANCY


def test_a_late_event_moves_the_later_entries_along_and_says_so() -> None:
    early, later = contact(T0), contact(T0 + timedelta(days=2), bedded_down=False)
    history = handlers.fold([early, later], LONDON, WINDOW)
    between = report(at=T0 + timedelta(days=1))
    recorded = handlers.record(history, between, LONDON, WINDOW)
    assert [(outcome.entry.event_id, outcome.entry.sequence) for outcome, _ in recorded.published] == [
        (between.id, 2), (later.id, 3)]
    assert recorded.published[0][1] is between  # its own update carries the whole event
    assert recorded.published[1][1].personal == type(later.personal)()  # others without personal data


def test_events_settle_out_of_the_window_and_are_still_never_applied_twice() -> None:
    window = timedelta(days=7)
    story = [contact(T0 + timedelta(days=d)) for d in range(0, 30, 2)]
    history = handlers.fold(story, LONDON, window)
    assert len(history.recent) < len(story) and len(history.settled_ids) + len(history.recent) == len(story)
    assert history.journey == fold(story)  # settling changes nothing about the journey
    again = handlers.record(history, story[0], LONDON, window)
    assert again.redelivered and again.history == history and again.published == ()


def test_an_event_without_a_subject_is_rejected() -> None:
    with pytest.raises(handlers.Rejected, match="no subject"):
        handlers.apply(None, report(person=None), LONDON)


def test_an_event_for_another_person_is_rejected() -> None:
    journey = handlers.apply(None, report(), LONDON).journey
    with pytest.raises(handlers.Rejected, match="does not match"):
        handlers.apply(journey, report(person=uuid.uuid4()), LONDON)


events = st.lists(
    st.tuples(st.sampled_from(["report", "contact"]), st.integers(0, 60 * 24 * 30), st.booleans(), st.booleans()),
    max_size=30,
).map(
    lambda specs: [
        report(at=T0 + timedelta(minutes=m)) if kind == "report"
        else contact(T0 + timedelta(minutes=m), engaged=engaged, bedded_down=bedded)
        for kind, m, engaged, bedded in specs
    ]
)


@given(events)
def test_the_same_events_in_the_same_order_always_give_the_same_journey(history: list) -> None:
    assert fold(history) == fold(history)


@given(events, st.data())
def test_redelivering_any_event_changes_nothing(history: list, data: st.DataObject) -> None:
    if not history:
        return
    position = data.draw(st.integers(0, len(history) - 1))
    redelivered = [*history[: position + 1], history[position], *history[position + 1 :]]
    assert fold(redelivered) == fold(history)


@given(events, st.randoms(use_true_random=False))
def test_any_arrival_order_gives_the_same_journey(history: list, random: Any) -> None:
    shuffled = list(history)
    random.shuffle(shuffled)
    assert fold(shuffled) == fold(history)


@given(events, st.randoms(use_true_random=False))
def test_any_arrival_order_with_duplicates_anywhere_gives_the_same_journey(history: list, random: Any) -> None:
    noisy = list(history) + [random.choice(history) for _ in range(len(history) // 2)] if history else []
    random.shuffle(noisy)
    assert fold(noisy) == fold(history)


@given(events)
def test_counts_equal_a_recount_of_the_events(history: list) -> None:
    journey = fold(history)
    if journey is None:
        assert history == []
        return
    contacts = [e for e in history if isinstance(e, ContactRecorded)]
    assert journey.sequence == len(history)
    assert journey.contacts == len(contacts)
    assert journey.reports == len(history) - len(contacts)
    assert set(journey.rough_sleeping_nights) == {night_of(c.time, LONDON) for c in contacts if c.data.bedded_down}
    assert journey.first_seen == min(e.time for e in history)
    assert (journey.stage is Stage.ENGAGED) == any(c.data.engaged for c in contacts)


def stored_and_read(history: History) -> History:
    """Through the changelog's form and back, as a worker that takes the partition over reads it."""
    return History.model_validate_json(history.model_dump_json().encode())


def test_a_kept_history_read_back_folds_on_as_the_one_in_memory_would() -> None:
    window = timedelta(days=7)
    story = [contact(T0 + timedelta(days=d), bedded_down=d % 4 == 0) for d in range(0, 30, 2)]
    history = handlers.fold(story, LONDON, window)
    read = stored_and_read(history)
    assert read == history and read.settled is not None and read.settled == history.settled
    assert all(e.personal == ContactPersonal() for e in (r.decoded() for r in read.recent))  # kept without it
    late, newest = contact(T0 + timedelta(days=27)), contact(T0 + timedelta(days=31))
    for arriving in (late, newest, story[-1], story[0]):  # late, newest, redelivered, settled long ago
        assert handlers.record(read, arriving, LONDON, window) == handlers.record(history, arriving, LONDON, window)
        read = stored_and_read(handlers.record(read, arriving, LONDON, window).history)
        history = handlers.record(history, arriving, LONDON, window).history
    assert read == history


def test_a_history_kept_by_the_earlier_worker_is_read_with_its_events_as_json_strings() -> None:
    early, later = contact(T0), contact(T0 + timedelta(days=2))
    history = handlers.fold([early, later], LONDON, WINDOW)
    # The form the worker kept before this one: each recent event a JSON string of the event
    # with an empty personal part, and settled_ids as UUIDs.
    older = json.dumps({
        "person_id": str(PERSON), "journey": json.loads(history.journey.model_dump_json()), "settled": None,
        "settled_ids": [],
        "recent": [{"id": r.id, "type": r.type, "time": r.time.isoformat(),
                    "event": e.model_copy(update={"personal": ContactPersonal()}).model_dump_json()}
                   for r, e in zip(history.recent, (early, later), strict=True)],
    })
    read = History.model_validate_json(older)
    assert read.journey == history.journey and [r.decoded() for r in read.recent] == [
        e.model_copy(update={"personal": ContactPersonal()}) for e in (early, later)]
    between = report(at=T0 + timedelta(days=1))
    assert handlers.record(read, between, LONDON, WINDOW).history.journey == fold([early, between, later])
