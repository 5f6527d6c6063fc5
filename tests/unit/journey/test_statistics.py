"""Statistics against a brute-force recount written straight from the definitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from journey.statistics import (
    HOUSING_STEPS,
    INACTIVE_CLOSES,
    Fact,
    Known,
    Rules,
    all_statistics,
    built_for_zero,
    chain,
    continued_spans,
    counted_from_spans,
    people_as_one,
    status_spans,
    statuses,
)

LONDON = ZoneInfo("Europe/London")
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
RULES = Rules(zone=LONDON, inactive_after_days=10, living_on_streets_nights=3, living_on_streets_span_days=7)
PEOPLE = ["p1", "p2", "p3", "p4"]
AREAS = ["A", "B"]


def night(moment: datetime) -> date:
    """Noon to noon, London: written here again so that the recount does not call the code it checks."""
    local = moment.astimezone(LONDON)
    return local.date() - timedelta(days=1 if local.hour < 12 else 0)


# ---------------------------------------------------------------- the brute force


def brute_chain(facts: list[Fact], start: date, end: date, area: str | None) -> dict[str, int]:
    previous = start - (end - start)
    result = dict.fromkeys(("seen", "new", "stock", "returner", "living_on_streets", "intermittent"), 0)
    for person in {f.person for f in facts}:
        rough = [f for f in facts if f.person == person and f.type == "contact.recorded" and f.data["bedded_down"]]
        here = {night(f.at) for f in rough if start <= night(f.at) < end and area in (None, f.data["area_code"])}
        if not here:
            continue
        result["seen"] += 1
        if all(night(f.at) >= start for f in rough):
            result["new"] += 1
            continue
        if any(previous <= night(f.at) < start for f in rough):
            result["stock"] += 1
        else:
            result["returner"] += 1
        lots = len(here) >= RULES.living_on_streets_nights and (max(here) - min(here)).days >= 7
        result["living_on_streets" if lots else "intermittent"] += 1
    return result


def brute_status(facts: list[Fact], person: str, day: date) -> str:
    mine = sorted((f for f in facts if f.person == person and night(f.at) <= day), key=lambda f: f.at)
    homeless = [f.at for f in mine if (f.type == "contact.recorded" and f.data["bedded_down"])
                or f.type == "bed.checked_in"]
    if not homeless:
        return "none"
    closes = [f for f in mine if f.type in ("case.closed", "case.reopened")]
    if closes and closes[-1].type == "case.closed":
        return "inactive" if closes[-1].data["close_reason"] in INACTIVE_CLOSES else "left"
    housed = [f.at for f in mine if f.type in HOUSING_STEPS]
    if housed and max(housed) >= max(homeless):
        return "housed"
    contacts = [f.at for f in mine if f.type in ("contact.recorded", "bed.checked_in")]
    if (day - night(max(contacts))).days >= RULES.inactive_after_days:
        return "inactive"
    return "active"


def brute_built_for_zero(facts: list[Fact], start: date, end: date) -> dict[str, int]:
    names = {("none", "active"): "newly_identified", ("housed", "active"): "returned_from_housing",
             ("inactive", "active"): "returned_from_inactive", ("left", "active"): "returned_from_inactive",
             ("active", "housed"): "housed", ("active", "inactive"): "moved_to_inactive",
             ("active", "left"): "no_longer_meets_criteria"}
    result = dict.fromkeys(("active", "inflow", "outflow", *names.values()), 0)
    for person in {f.person for f in facts}:
        day = start
        while day < end:
            before, after = brute_status(facts, person, day - timedelta(days=1)), brute_status(facts, person, day)
            if (before == "active") != (after == "active"):
                result["inflow" if after == "active" else "outflow"] += 1
                result[names[(before, after)]] += 1
            day += timedelta(days=1)
        result["active"] += brute_status(facts, person, end - timedelta(days=1)) == "active"
    return result


# ---------------------------------------------------------------- random facts

def _fact(person: str, kind: int, minutes: int, area: str, flag: bool, reason: str) -> Fact:
    at = T0 + timedelta(minutes=minutes)
    if kind == 0:
        return Fact(person, "contact.recorded", at, {"bedded_down": True, "area_code": area})
    if kind == 1:
        return Fact(person, "contact.recorded", at, {"bedded_down": flag, "area_code": area})
    if kind == 2:
        return Fact(person, "bed.checked_in", at, {})
    if kind == 3:
        return Fact(person, sorted(HOUSING_STEPS)[minutes % 3], at, {})
    if kind == 4:
        return Fact(person, "case.closed", at, {"close_reason": reason})
    return Fact(person, "case.reopened", at, {})


facts_strategy = st.lists(
    st.builds(_fact, st.sampled_from(PEOPLE), st.sampled_from([0, 0, 0, 1, 2, 3, 4, 5]),
              st.integers(0, 60 * 24 * 110), st.sampled_from(AREAS), st.booleans(),
              st.sampled_from(["moved_away", "died", "no_longer_meets_criteria"])),
    max_size=40,
)
periods = st.tuples(st.integers(0, 110), st.integers(1, 35)).map(
    lambda p: (T0.date() + timedelta(days=p[0]), T0.date() + timedelta(days=p[0] + p[1])))


@given(facts_strategy, periods, st.sampled_from([None, *AREAS]))
@settings(max_examples=150, deadline=None)
def test_chain_equals_a_brute_force_recount(facts: list[Fact], period: tuple[date, date], area: str | None) -> None:
    start, end = period
    assert chain(facts, start, end, RULES, area) == brute_chain(facts, start, end, area)


@given(facts_strategy, periods)
@settings(max_examples=150, deadline=None)
def test_built_for_zero_equals_a_brute_force_recount(facts: list[Fact], period: tuple[date, date]) -> None:
    start, end = period
    counted = built_for_zero(facts, start, end, RULES)
    assert counted == brute_built_for_zero(facts, start, end)
    assert counted["inflow"] == counted["newly_identified"] + counted["returned_from_housing"] + counted[
        "returned_from_inactive"]
    assert counted["outflow"] == counted["housed"] + counted["moved_to_inactive"] + counted[
        "no_longer_meets_criteria"]


reports_strategy = st.lists(
    st.tuples(st.integers(0, 60 * 24 * 110), st.sampled_from(AREAS), st.booleans(),
              st.one_of(st.none(), st.integers(0, 60 * 48)), st.integers(1, 48),
              st.sampled_from([None, "found_and_engaged", "not_found", "already_known"]), st.booleans()),
    max_size=25,
)


def _report_facts(specs: list) -> list[Fact]:
    facts = []
    for i, (minutes, area, wants, attempt_after, target_h, outcome, told) in enumerate(specs):
        at, rid, person = T0 + timedelta(minutes=minutes), f"r{i}", PEOPLE[i % len(PEOPLE)]
        facts.append(Fact(person, "report.received", at, {"area_code": area, "wants_update": wants}, rid))
        facts.append(Fact(person, "report.routed", at, {"report_id": rid,
                                                         "due_by": (at + timedelta(hours=target_h)).isoformat()}))
        if attempt_after is not None:
            facts.append(Fact(person, "report.attempted", at + timedelta(minutes=attempt_after), {"report_id": rid}))
            if outcome:
                facts.append(Fact(person, "report.outcome", at + timedelta(minutes=attempt_after + 5),
                                  {"report_id": rid, "outcome": outcome}))
            if told:
                facts.append(Fact(person, "report.reporter_told", at + timedelta(days=1), {"report_id": rid}))
    return facts


@given(facts_strategy, periods)
@settings(max_examples=200, deadline=None)
def test_status_spans_equal_the_night_by_night_statuses_and_count_the_same(
        facts: list[Fact], period: tuple[date, date]) -> None:
    """What the worker keeps (readmodel/statistics.py) gives Built for Zero's counts exactly."""
    start, end = period
    days = [T0.date() - timedelta(days=2) + timedelta(days=k) for k in range(150)]
    spans = []
    for person in PEOPLE:
        mine = sorted((f for f in facts if f.person == person), key=lambda f: f.at)
        own = status_spans(mine, RULES)
        spans.extend(own)
        by_night = [next((s.status for s in own if s.since <= day < s.until), "none") for day in days]
        assert by_night == statuses(mine, days, RULES)
        assert all(a.until == b.since and a.status == b.previous for a, b in zip(own, own[1:], strict=False))
    assert counted_from_spans(spans, start, end) == built_for_zero(facts, start, end, RULES)


# One record's facts, close together: nights with several facts, and lapses into inactive
# between them, so that batches often begin on a night a status changed.
one_record = st.lists(
    st.builds(_fact, st.just("p1"), st.sampled_from([0, 0, 0, 1, 2, 3, 4, 5]), st.integers(0, 60 * 24 * 40),
              st.sampled_from(AREAS), st.booleans(),
              st.sampled_from(["moved_away", "died", "no_longer_meets_criteria"])),
    max_size=30,
).map(lambda facts: sorted({f.at: f for f in facts}.values(), key=lambda f: f.at))  # no two at one moment


@given(one_record, st.lists(st.integers(1, 8), max_size=8))
@settings(max_examples=300, deadline=None)
def test_spans_gone_on_with_later_facts_equal_the_spans_of_all_of_them(facts: list[Fact], cuts: list[int]) -> None:
    """The worker goes on from what a record's earlier facts said, batch by batch, when later
    facts come in time order (readmodel/statistics.py): the same spans as all the facts at once."""
    spans: list = []
    known, at = Known(), 0
    for size in [*cuts, len(facts)]:
        spans = continued_spans(spans, known, facts[at:at + size], RULES)
        at += size
    assert spans == status_spans(facts, RULES)
    assert known.latest == (facts[-1].at if facts else None)


@given(reports_strategy, periods, st.sampled_from([None, *AREAS]))
@settings(max_examples=150, deadline=None)
def test_report_response_equals_a_brute_force_recount(specs: list, period: tuple[date, date],
                                                      area: str | None) -> None:
    start, end = period
    close = datetime(end.year, end.month, end.day, 12, tzinfo=LONDON)
    facts = _report_facts(specs)
    counted = all_statistics(facts, start, end, RULES, area)["reports"]
    received = attempted = within = overdue = wanted = told = 0
    outcomes: dict[str, int] = {}
    for minutes, r_area, wants, attempt_after, target_h, outcome, was_told in specs:
        at = T0 + timedelta(minutes=minutes)
        if not (start <= night(at) < end) or area not in (None, r_area):
            continue
        received += 1
        due = at + timedelta(hours=target_h)
        first = at + timedelta(minutes=attempt_after) if attempt_after is not None else None
        attempted += first is not None and first <= close
        within += first is not None and first <= due
        overdue += not (first is not None and first <= due) and due < close
        key = outcome if (attempt_after is not None and outcome) else "no_outcome_yet"
        outcomes[key] = outcomes.get(key, 0) + 1
        wanted += wants
        told += wants and attempt_after is not None and was_told
    assert (counted["received"], counted["attempted"], counted["attempted_within_target"], counted["overdue"]) == (
        received, attempted, within, overdue)
    assert counted["outcomes"] == dict(sorted(outcomes.items()))
    assert (counted["reporter_wanted_update"], counted["reporter_told"]) == (wanted, told)


def test_merged_and_linked_records_count_as_one_person() -> None:
    facts = [Fact("a", "contact.recorded", T0, {"bedded_down": True, "area_code": "A"}),
             Fact("b", "contact.recorded", T0 + timedelta(days=1), {"bedded_down": True, "area_code": "A"}),
             Fact("c", "contact.recorded", T0 + timedelta(days=2), {"bedded_down": True, "area_code": "A"})]
    period = (T0.date(), T0.date() + timedelta(days=7))
    assert chain(facts, *period, RULES)["seen"] == 3
    assert chain(people_as_one(facts, [("b", "a"), ("c", "b")]), *period, RULES)["seen"] == 1


def test_a_person_seen_in_consecutive_periods_is_stock_and_after_a_gap_a_returner() -> None:
    seen = [Fact("p", "contact.recorded", T0 + timedelta(days=d), {"bedded_down": True, "area_code": "A"})
            for d in (1, 8, 30)]
    week = timedelta(days=7)
    first = T0.date()
    assert chain(seen, first, first + week, RULES)["new"] == 1
    assert chain(seen, first + week, first + 2 * week, RULES)["stock"] == 1
    assert chain(seen, first + 4 * week, first + 5 * week, RULES)["returner"] == 1


def test_after_ninety_nights_without_contact_a_person_is_inactive() -> None:
    rules = Rules(zone=LONDON, inactive_after_days=90)
    # Last seen bedded down at 23:00 on the night of 1 June (BST): nights 89, 90 and 91 after it.
    last = Fact("p", "contact.recorded", datetime(2026, 6, 1, 23, tzinfo=LONDON), {"bedded_down": True})
    night_seen = date(2026, 6, 1)

    def on(nights_later: int) -> dict[str, int]:
        day = night_seen + timedelta(days=nights_later)
        return built_for_zero([last], day, day + timedelta(days=1), rules)

    assert (on(89)["active"], on(89)["moved_to_inactive"]) == (1, 0)
    assert (on(90)["active"], on(90)["moved_to_inactive"]) == (0, 1)  # the change happens on night 90
    assert (on(91)["active"], on(91)["moved_to_inactive"]) == (0, 0)


def test_a_5am_contact_belongs_to_the_night_before_in_chain_and_built_for_zero_alike() -> None:
    # 05:00 BST on 1 July is the night of 30 June: outside a period that starts on 1 July.
    early = Fact("p", "contact.recorded", datetime(2026, 7, 1, 5, tzinfo=LONDON), {"bedded_down": True})
    july, june = (date(2026, 7, 1), date(2026, 7, 8)), (date(2026, 6, 30), date(2026, 7, 1))
    assert chain([early], *july, RULES)["seen"] == 0
    assert built_for_zero([early], *july, RULES)["newly_identified"] == 0
    assert chain([early], *june, RULES)["new"] == 1
    assert built_for_zero([early], *june, RULES)["newly_identified"] == 1


def test_one_instant_written_in_two_offsets_is_one_night() -> None:
    # 23:30 BST and 22:30Z are the same moment: the night of 1 July, whatever offset the client sent.
    bst = Fact("p", "contact.recorded", datetime.fromisoformat("2026-07-01T23:30:00+01:00"), {"bedded_down": True})
    utc = Fact("p", "contact.recorded", datetime.fromisoformat("2026-07-01T22:30:00+00:00"), {"bedded_down": True})
    period = (date(2026, 7, 1), date(2026, 7, 2))
    assert chain([bst], *period, RULES) == chain([utc], *period, RULES)
    assert chain([bst], *period, RULES)["seen"] == 1


def test_seen_on_the_first_night_of_the_previous_period_is_stock() -> None:
    week = timedelta(days=7)
    start = T0.date() + week
    first_night_before = datetime(start.year, start.month, start.day, 23, tzinfo=LONDON) - week
    seen = [Fact("p", "contact.recorded", first_night_before, {"bedded_down": True, "area_code": "A"}),
            Fact("p", "contact.recorded", first_night_before + week, {"bedded_down": True, "area_code": "A"})]
    assert chain(seen, start, start + week, RULES)["stock"] == 1
    a_night_earlier = [seen[0].__class__("p", seen[0].type, first_night_before - timedelta(days=1), seen[0].data),
                       seen[1]]
    assert chain(a_night_earlier, start, start + week, RULES)["returner"] == 1


def test_facts_at_one_moment_give_one_status_whatever_order_they_are_read_in() -> None:
    """A case closed and reopened at the same moment: the reader, the worker and the whole
    timeline read them in different orders (an index by type, a batch in arrival order)."""
    seen = Fact("p1", "contact.recorded", T0, {"bedded_down": True}, "e1")
    closed = Fact("p1", "case.closed", T0 + timedelta(days=2), {"close_reason": "moved_away"}, "e3")
    reopened = Fact("p1", "case.reopened", T0 + timedelta(days=2), {}, "e2")
    start, end = T0.date(), T0.date() + timedelta(days=7)
    one_way = built_for_zero([seen, closed, reopened], start, end, RULES)
    assert built_for_zero([seen, reopened, closed], start, end, RULES) == one_way
    assert one_way["active"] == 0  # e3 after e2: closed


def test_a_persons_last_area_at_one_moment_is_one_area_whatever_order_the_facts_are_read_in() -> None:
    """Figures of one area count a person in their latest area. Two facts at the same moment
    in two areas (a work step and a contact written together): the reader and the whole
    timeline read them in different orders, and must put the person in the same area."""
    in_market = Fact("p1", "contact.recorded", T0, {"bedded_down": True, "area_code": "TC-MARKET"}, "e2")
    in_station = Fact("p1", "report.received", T0, {"area_code": "TC-STATION"}, "e1")
    enrolled = Fact("p1", "work.course_enrolled", T0, {}, "e3")
    start, end = T0.date(), T0.date() + timedelta(days=1)
    one_way = all_statistics([in_market, in_station, enrolled], start, end, RULES, "TC-MARKET")
    assert all_statistics([in_station, in_market, enrolled], start, end, RULES, "TC-MARKET") == one_way
    assert one_way["moves"] == {"work.course_enrolled": 1}  # e2 after e1: the market


def test_a_report_given_two_outcomes_counts_by_its_latest_whatever_order_they_are_read_in() -> None:
    received = Fact("p1", "report.received", T0, {"area_code": "TC-MARKET"}, "e1")
    not_found = Fact("p1", "report.outcome", T0 + timedelta(hours=2), {"report_id": "e1", "outcome": "not_found"},
                     "e2")
    engaged = Fact("p1", "report.outcome", T0 + timedelta(hours=5), {"report_id": "e1",
                                                                      "outcome": "found_and_engaged"}, "e3")
    start, end = T0.date(), T0.date() + timedelta(days=1)
    for order in ([received, not_found, engaged], [engaged, received, not_found]):
        assert all_statistics(order, start, end, RULES)["reports"]["outcomes"] == {"found_and_engaged": 1}
