"""Bed allocation as pure logic: the provider's agent, the person's agent, and both together."""

from __future__ import annotations

import uuid
from collections import deque
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

import handlers
from handlers.beds import claim_night, decide
from journey.beds import PersonNights, ProviderBeds, capacity_of, due_no_shows, free_bed, picture, release_moment
from schemas.beds import BedRequested, CapacityChanged, ProviderRegistered, RecordMerged, StayCommand
from schemas.events import BedOutcome, BedType
from schemas.progress import Stage

NIGHT = date(2026, 11, 23)
T = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


def register(provider: str = "hub", waitlist: int = 2, release: time = time(22)) -> ProviderRegistered:
    return ProviderRegistered(id=uuid.uuid4(), provider_id=provider, source="the-brick", actor="k", time=T,
                              name="Hub", kind="hub", area_code="TC", no_show_release=release,
                              waitlist_limit=waitlist)


def capacity(beds: int, provider: str = "hub", change: str = "opened", bed_type: BedType = BedType.GENERAL,
             last: date | None = None) -> CapacityChanged:
    return CapacityChanged(id=uuid.uuid4(), provider_id=provider, source="the-brick", actor="k", time=T,
                           change=change, bed_type=bed_type, beds=beds, first_night=NIGHT, last_night=last)


def request(person: uuid.UUID, provider: str = "hub", bed_type: BedType = BedType.GENERAL,
            night: date = NIGHT, at: datetime = T) -> BedRequested:
    return BedRequested(id=uuid.uuid4(), provider_id=provider, source="outreach", actor="k", time=at,
                        person_id=person, night=night, bed_type=bed_type)


def stay(kind: str, request_id: uuid.UUID, provider: str = "hub") -> StayCommand:
    return StayCommand(id=uuid.uuid4(), type=kind, provider_id=provider, source="the-brick", actor="k", time=T,
                       request_id=request_id, night=NIGHT)


def run(state: ProviderBeds | None, *commands) -> tuple[ProviderBeds, list[BedOutcome]]:
    outcomes: list[BedOutcome] = []
    for command in commands:
        decision = decide(state, command)
        if decision is not None:
            state, outcomes = decision.state, [*outcomes, *decision.outcomes]
    assert state is not None
    return state, outcomes


def test_beds_are_numbered_then_waitlisted_then_refused_with_reasons() -> None:
    people = [uuid.uuid4() for _ in range(5)]
    state, outcomes = run(None, register(waitlist=2), capacity(2), *(request(p) for p in people))
    assert [o.type for o in outcomes] == ["bed.allocated"] * 2 + ["bed.waitlisted"] * 2 + ["bed.refused"]
    assert [o.data.bed for o in outcomes[:2]] == [1, 2]
    assert [o.data.waitlist_position for o in outcomes[2:4]] == [1, 2]
    assert outcomes[4].data.reason == "every general bed is taken and the waitlist is full"
    counts = picture(state, NIGHT).beds
    assert [(c.capacity, c.allocated, c.free, c.waitlisted) for c in counts] == [(2, 2, 0, 2)]


def test_a_no_show_gives_the_bed_to_the_first_on_the_waitlist() -> None:
    first, second, third = (uuid.uuid4() for _ in range(3))
    asks = [request(first), request(second), request(third)]
    state, outcomes = run(None, register(), capacity(1), *asks)
    state, released = run(state, stay("bed.no_show", asks[0].id))
    assert [(o.type, o.subject, o.data.bed) for o in released] == [
        ("bed.no_show", first, 1), ("bed.allocated", second, 1)]
    assert picture(state, NIGHT).beds[0].waitlisted == 1


def test_check_in_then_check_out_frees_the_bed_and_a_check_out_before_check_in_does_nothing() -> None:
    person = uuid.uuid4()
    ask = request(person)
    state, _ = run(None, register(), capacity(1), ask)
    unchanged, nothing = run(state, stay("bed.check_out", ask.id))
    assert nothing == [] and picture(unchanged, NIGHT) == picture(state, NIGHT)
    state, outcomes = run(state, stay("bed.check_in", ask.id), stay("bed.check_out", ask.id))
    assert [o.type for o in outcomes] == ["bed.checked_in", "bed.checked_out"]
    assert free_bed(state, NIGHT, BedType.GENERAL) == 1


def test_a_redelivered_command_decides_nothing_new() -> None:
    ask = request(uuid.uuid4())
    state, _ = run(None, register(), capacity(3), ask)
    assert decide(state, ask) is None
    # Even once it has left the remembered ids, the night still knows the request.
    forgotten = state.model_copy(update={"recent_commands": ()})
    again = decide(forgotten, ask)
    assert again is not None and again.outcomes == ()


def test_bed_types_are_separate_and_a_request_for_a_type_not_offered_is_refused() -> None:
    state, outcomes = run(None, register(), capacity(1, bed_type=BedType.WOMEN_ONLY),
                          request(uuid.uuid4(), bed_type=BedType.DOGS_WELCOME))
    assert outcomes[-1].type == "bed.refused"
    assert outcomes[-1].data.reason == "no dogs_welcome beds here that night"


def test_a_closure_keeps_beds_given_out_but_gives_no_new_ones_and_a_reopening_serves_the_waitlist() -> None:
    asks = [request(uuid.uuid4()) for _ in range(3)]
    state, _ = run(None, register(), capacity(2), asks[0], asks[1])
    state, _ = run(state, capacity(1, change="reduced", last=NIGHT))
    counts = picture(state, NIGHT).beds[0]
    assert (counts.capacity, counts.allocated, counts.free) == (1, 2, 0)
    state, outcomes = run(state, asks[2])
    assert outcomes[-1].type == "bed.waitlisted"
    state, outcomes = run(state, capacity(2))
    assert [(o.type, o.data.bed) for o in outcomes] == [("bed.allocated", 3)]


def test_an_unregistered_provider_refuses() -> None:
    _, outcomes = run(None, request(uuid.uuid4()))
    assert outcomes[0].data.reason == "this provider is not registered"


def test_no_show_release_is_on_the_night_in_local_time() -> None:
    assert release_moment(NIGHT, time(22), LONDON) == datetime(2026, 11, 23, 22, 0, tzinfo=LONDON)
    assert release_moment(NIGHT, time(1), LONDON) == datetime(2026, 11, 24, 1, 0, tzinfo=LONDON)
    ask = request(uuid.uuid4())
    state, _ = run(None, register(release=time(22)), capacity(1), ask)
    assert due_no_shows(state, datetime(2026, 11, 23, 21, 59, tzinfo=LONDON), LONDON) == []
    assert [s.request_id for _, s in due_no_shows(state, datetime(2026, 11, 23, 22, 0, tzinfo=LONDON), LONDON)] \
        == [ask.id]


def test_a_bed_booked_after_the_release_time_is_held_for_the_rest_of_the_night() -> None:
    # The early-morning walk books tonight's bed at 01:30, after the 22:00 release has passed.
    early_walk = datetime(2026, 11, 24, 1, 30, tzinfo=LONDON)
    evening, late = request(uuid.uuid4()), request(uuid.uuid4(), at=early_walk)
    state, outcomes = run(None, register(release=time(22)), capacity(2), evening, late)
    assert [o.type for o in outcomes] == ["bed.allocated", "bed.allocated"]
    due = due_no_shows(state, early_walk + timedelta(minutes=1), LONDON)
    # Only the bed given at 18:00 and not arrived at by 22:00 is released.
    assert [s.request_id for _, s in due] == [evening.id]


def test_the_person_agent_lets_one_request_per_night_through() -> None:
    person = uuid.uuid4()
    first, second = request(person, provider="hub"), request(person, provider="shelter")
    claimed = claim_night(None, first)
    assert claimed is not None and claimed.forward == first
    refused = claim_night(claimed.state, second)
    assert refused is not None and refused.forward is None
    assert refused.outcomes[0].data.reason == "a request for this night at hub is awaiting its decision"
    assert claim_night(refused.state, first) is None  # redelivered


def test_a_refusal_from_the_provider_frees_the_night_for_another_request() -> None:
    person = uuid.uuid4()
    first = request(person)
    claimed = claim_night(None, first)
    _, outcomes = run(None, first)  # the provider is unknown: refused
    released = claim_night(claimed.state, outcomes[0])
    assert released is not None and released.state.claims == {}
    assert claim_night(released.state, request(person, provider="shelter")).forward is not None


def test_bed_outcomes_reach_the_journey_and_count_nights_in_a_bed() -> None:
    person = uuid.uuid4()
    ask = request(person)
    _, outcomes = run(None, register(), capacity(1), ask, stay("bed.check_in", ask.id))
    history = handlers.fold([*outcomes, outcomes[-1]], LONDON, timedelta(days=28))  # the last twice: counted once
    assert history is not None
    journey = history.journey
    assert journey.emergency_bed_nights == (NIGHT,)
    assert journey.stage is Stage.EMERGENCY_ACCOMMODATION
    assert journey.sequence == 2


# ---------------------------------------------------------------- the two agents together

ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("request"), st.integers(0, 9), st.sampled_from(["aa", "bb", "cc"]),
                  st.sampled_from([BedType.GENERAL, BedType.WOMEN_ONLY]), st.integers(0, 1)),
        st.tuples(st.sampled_from(["bed.no_show", "bed.check_in", "bed.check_out", "bed.withdraw"]),
                  st.integers(0, 40)),
        st.tuples(st.sampled_from(["opened", "closed"]), st.sampled_from(["aa", "bb", "cc"]), st.integers(1, 3)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(ACTIONS, st.randoms(use_true_random=False))
def test_no_bed_is_ever_given_twice_and_nobody_holds_two_beds_on_one_night(actions, rng) -> None:
    """Both agents, with messages between them delivered in a random interleaving."""
    people = [uuid.UUID(int=n + 1) for n in range(10)]
    providers: dict[str, ProviderBeds | None] = {}
    persons: dict[uuid.UUID, PersonNights | None] = {}
    to_provider: deque = deque()
    to_person: deque = deque()
    requests: list[BedRequested] = []
    for name in ("aa", "bb", "cc"):
        for command in (register(name, waitlist=2), capacity(2, provider=name)):
            providers[name] = decide(providers.get(name), command).state

    def deliver_one() -> None:
        queue = rng.choice([q for q in (to_provider, to_person) if q])
        message = queue.popleft()
        if queue is to_provider:
            decision = decide(providers.get(message.provider_id), message)
            if decision:
                providers[message.provider_id] = decision.state
                to_person.extend(decision.outcomes)
                for outcome in decision.outcomes:
                    if outcome.type == "bed.allocated":  # never beyond the beds there are
                        d = outcome.data
                        assert d.bed <= capacity_of(decision.state.capacity, d.night, d.bed_type)
        else:
            person = message.person_id if isinstance(message, BedRequested) else message.subject
            result = claim_night(persons.get(person), message)
            if result:
                persons[person] = result.state
                if result.forward:
                    to_provider.append(result.forward)

    for action in actions:
        if action[0] == "request":
            _, who, provider, bed_type, night = action
            ask = request(people[who], provider=provider, bed_type=bed_type, night=NIGHT + timedelta(days=night))
            requests.append(ask)
            to_person.append(ask)
        elif action[0] in ("opened", "closed"):
            _, provider, beds = action
            to_provider.append(capacity(beds, provider=provider, change=action[0]))
        elif requests:
            ask = requests[action[1] % len(requests)]
            command = stay(action[0], ask.id, provider=ask.provider_id)
            to_provider.append(command.model_copy(update={"night": ask.night}))
        if rng.random() < 0.5 and (to_provider or to_person):
            deliver_one()
    while to_provider or to_person:
        deliver_one()

    holders: dict[tuple[uuid.UUID, date], str] = {}
    for name, state in providers.items():
        assert state is not None
        for night, current in state.nights.items():
            beds = [(s.bed_type, s.bed) for s in current.stays]
            assert len(beds) == len(set(beds)), "a bed given twice"
            for s in current.stays:
                assert (s.person_id, night) not in holders, "two beds on one night"
                holders[(s.person_id, night)] = name
    # The person's agent agrees with the providers about who holds what, once all is delivered.
    for person, nights in persons.items():
        assert nights is not None
        held = {(person, n): c.provider_id for n, c in nights.claims.items() if c.status in ("allocated", "checked_in")}
        assert held == {k: v for k, v in holders.items() if k[0] == person}


def test_a_stay_command_that_does_not_fit_is_refused_with_a_reason_and_changes_nothing() -> None:
    asked = request(uuid.uuid4())
    allocated, _ = run(None, register(), capacity(1), asked)
    check_out = stay("bed.check_out", asked.id)
    decision = decide(allocated, check_out)
    assert decision.outcomes == () and decision.state.nights == allocated.nights
    (refusal,) = decision.refused
    assert (refusal.command_id, refusal.command) == (check_out.id, "bed.check_out")
    assert "has not checked in" in refusal.reason
    # A second check-in asks for what is already so: nothing to refuse.
    checked_in, _ = run(allocated, stay("bed.check_in", asked.id))
    assert decide(checked_in, stay("bed.check_in", asked.id)).refused == ()
    # A check-in after the bed was released is refused, saying so.
    released, _ = run(allocated, stay("bed.no_show", asked.id))
    (late,) = decide(released, stay("bed.check_in", asked.id)).refused
    assert "released" in late.reason


def _merge_of(record: uuid.UUID, into: uuid.UUID, undo: bool = False) -> RecordMerged:
    return RecordMerged(type="person.merge_undone" if undo else "person.merged", id=uuid.uuid4(),
                        person_id=record, into=into, time=T)


def test_a_merged_records_requests_count_against_the_kept_records_nights() -> None:
    kept, merged = uuid.uuid4(), uuid.uuid4()
    asked = request(kept)
    holding = claim_night(None, asked).state
    allocated = BedOutcome(id=uuid.uuid4(), type="bed.allocated", source="hub", actor="k", subject=kept, time=T,
                           recorded_at=T, data={"request_id": asked.id, "provider_id": "hub", "night": NIGHT,
                                                "bed_type": "general", "bed": 1})
    holding = claim_night(holding, allocated).state
    # The merged record's stage learns of the merge; its next request goes to the kept record.
    told = claim_night(None, _merge_of(merged, kept))
    assert told.state.merged_into == kept
    later = claim_night(told.state, request(merged, provider="other-hub"))
    (passed_on,) = later.to_people
    assert passed_on.person_id == kept and later.forward is None
    refused = claim_night(holding, passed_on)
    assert refused.forward is None and refused.outcomes[0].type == "bed.refused"
    assert "already has a bed at hub" in refused.outcomes[0].data.reason
    # After the merge is undone, the record asks for itself again.
    undone = claim_night(later.state, _merge_of(merged, kept, undo=True))
    assert claim_night(undone.state, request(merged)).forward is not None


def test_two_beds_held_by_records_then_merged_leave_one_the_other_is_withdrawn() -> None:
    kept, merged = uuid.uuid4(), uuid.uuid4()
    states = {}
    for person, provider in ((kept, "hub"), (merged, "shelter")):
        asked = request(person, provider=provider)
        state = claim_night(None, asked).state
        outcome = BedOutcome(id=uuid.uuid4(), type="bed.allocated", source=provider, actor="k", subject=person,
                             time=T, recorded_at=T, data={"request_id": asked.id, "provider_id": provider,
                                                          "night": NIGHT, "bed_type": "general", "bed": 1})
        states[person] = (claim_night(state, outcome).state, asked.id)
    (joined,) = claim_night(states[merged][0], _merge_of(merged, kept)).to_people
    taken = claim_night(states[kept][0], joined)
    (withdrawal,) = taken.withdrawals
    assert (withdrawal.type, withdrawal.provider_id, withdrawal.request_id) == ("bed.withdraw", "shelter",
                                                                                states[merged][1])
    assert taken.state.claims[NIGHT].provider_id == "hub"
    assert claim_night(taken.state, joined) is None  # delivered twice: withdrawn once
