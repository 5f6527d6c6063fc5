"""The practitioners' statistics, computed from the events' non-personal facts. Pure.

Definitions (DOMAIN.md; the README repeats them for readers of the API):

Periods are of nights, noon to noon in the local time zone (journey/nights.py): a period
from START to END holds the nights START to END-1, that is every moment from local noon on
START to local noon on END. Every statistic places its facts by that one rule, so a 05:00
contact on a period's first date belongs to the period before, in CHAIN and Built for Zero alike.

Rough sleeping: a person is *seen rough sleeping* on a night when an outreach contact found
them bedded down. Reports alone never count: CHAIN is street-first.

CHAIN, for a period P and the previous period Q of the same length:
- new (flow): seen rough sleeping in P and never before P;
- stock: seen rough sleeping in P and also in Q;
- returner: seen rough sleeping in P, seen before Q, but not in Q.
- living on the streets: not new, and seen bedded down on at least LOTS nights in P spread
  over at least LOTS-span days (CHAIN: "many contacts over 3 weeks or more");
- intermittent: not new and not living on the streets.

Built for Zero, at the end of each night, a person is one of:
- active: literally homeless (seen bedded down or in an emergency bed) and neither housed since,
  nor closed, nor without contact for INACTIVE nights;
- housed: moved into supported housing, a tenancy or a reconnection after their last night
  literally homeless;
- inactive: no contact (outreach contact, bed check-in, or being seen) for INACTIVE nights (a
  person last contacted on night N is inactive from night N+INACTIVE on), or the case closed as
  moved away, in an institution or died;
- left: the case closed as no longer meeting the criteria.
Over a period: active on its last day; inflow = newly identified + returned from housing +
returned from inactive; outflow = housed + moved to inactive + no longer meets criteria; each
counted by the night a person's status changed, so a person may flow in and out within a period.

Reports received in the period: how many, time from report to first outreach attempt (median,
90th percentile), share attempted within the area's target, overdue (no attempt by the target
time, as at the period's end), the outcome mix, and how many reporters who asked were told.

Moves: accommodation, training and work steps recorded in the period, by step.

Area: CHAIN counts the nights seen in the area; reports count by the report's area; Built for
Zero and moves count people whose last known area (by the period's end) is the area.
Records merged or linked by a person count as one person.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from statistics import median
from typing import Any, Protocol, TypeVar

from journey.nights import night_of, night_starts

HOUSING_STEPS = frozenset({
    "accommodation.supported_housing_entered", "accommodation.tenancy_started", "accommodation.reconnected",
})
INACTIVE_CLOSES = frozenset({"moved_away", "institution", "died"})
V = TypeVar("V")


@dataclass(frozen=True)
class Fact:
    """One event as statistics see it: whose, what, when, and its non-personal data."""

    person: str
    type: str
    at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    event_id: str = ""


@dataclass(frozen=True)
class Rules:
    """The community-set numbers the definitions depend on."""

    zone: tzinfo
    inactive_after_days: int = 90
    living_on_streets_nights: int = 5
    living_on_streets_span_days: int = 21

    @classmethod
    def configured(cls, settings: RulesSettings) -> Rules:
        """The numbers the operator configured (schemas/settings.py): the domain never reads them."""
        return cls(zone=settings.zone, inactive_after_days=settings.case_inactive_after_days,
                   living_on_streets_nights=settings.living_on_streets_nights,
                   living_on_streets_span_days=settings.living_on_streets_span_days)


class RulesSettings(Protocol):
    @property
    def zone(self) -> tzinfo: ...

    case_inactive_after_days: int
    living_on_streets_nights: int
    living_on_streets_span_days: int


def people_as_one(facts: Iterable[Fact], same_person: Iterable[tuple[str, str]]) -> list[Fact]:
    """Facts with every record of one person (merged or linked) under one id."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x] = parent.get(parent[x], parent[x])
        return x

    for a, b in same_person:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [Fact(root(f.person), f.type, f.at, f.data, f.event_id) if f.person in parent else f for f in facts]


def in_time_order(fact: Fact) -> tuple[datetime, str]:
    """The order a person's facts are taken in: by time, and facts at the same moment by event
    id. A case closed and reopened at one moment must give one status however the facts were
    read (a table scan, an index by type, a batch in arrival order)."""
    return fact.at, fact.event_id


def keep_latest(kept: dict[str, tuple[datetime, str, V]], key: str, fact: Fact, value: V) -> None:
    """Keep `value` under `key` if `fact` comes after the fact kept there, in `in_time_order` (time,
    then event id): the latest of facts read in any order (a table scan, an index, a batch in
    arrival order). The event id is compared only at one moment: this runs once a fact."""
    held = kept.get(key)
    if held is None or fact.at > held[0] or (fact.at == held[0] and fact.event_id >= held[1]):
        kept[key] = (fact.at, fact.event_id, value)


def _by_person(facts: Iterable[Fact]) -> dict[str, list[Fact]]:
    grouped: dict[str, list[Fact]] = defaultdict(list)
    for fact in facts:
        grouped[fact.person].append(fact)
    for items in grouped.values():
        items.sort(key=in_time_order)
    return grouped


# ---------------------------------------------------------------- CHAIN


def rough_sleeping_nights(facts: Iterable[Fact], zone: tzinfo) -> list[tuple[date, str | None]]:
    """(night, area) for each bedded-down contact."""
    return [
        (night_of(f.at, zone), f.data.get("area_code"))
        for f in facts if f.type == "contact.recorded" and f.data.get("bedded_down")
    ]


@dataclass(frozen=True, slots=True)
class RoughSleeper:
    """What CHAIN asks about one person seen sleeping rough in a period: on how many nights and
    from when to when, whether they were seen rough in the period of the same length before it,
    and at any time before it. (The read model gives these from its rough sleeping, in SQL.)"""

    nights: int
    first: date
    last: date
    recently: bool
    before: bool


def chain_counts(seen: Iterable[RoughSleeper], rules: Rules) -> dict[str, int]:
    """CHAIN's figures for the people seen rough in a period: new to the streets, or seen before
    (stock if in the period before, else returners), and of those, living on the streets or
    intermittent."""
    counts = Counter({"seen": 0, "new": 0, "stock": 0, "returner": 0, "living_on_streets": 0, "intermittent": 0})
    for person in seen:
        counts["seen"] += 1
        if not person.before:
            counts["new"] += 1
            continue
        counts["stock" if person.recently else "returner"] += 1
        lots = (person.nights >= rules.living_on_streets_nights
                and (person.last - person.first).days >= rules.living_on_streets_span_days)
        counts["living_on_streets" if lots else "intermittent"] += 1
    return dict(counts)


def chain(facts: Sequence[Fact], start: date, end: date, rules: Rules, area: str | None = None) -> dict[str, int]:
    previous = start - (end - start)
    seen = []
    # Only rough sleeping counts: grouped and sorted alone, not with the rest of the facts.
    for items in _by_person(f for f in facts if f.type == "contact.recorded" and f.data.get("bedded_down")).values():
        nights = rough_sleeping_nights(items, rules.zone)
        in_period = sorted({n for n, a in nights if start <= n < end and (area is None or a == area)})
        if in_period:
            before = [n for n, _ in nights if n < start]
            seen.append(RoughSleeper(len(in_period), in_period[0], in_period[-1],
                                     any(previous <= n for n in before), bool(before)))
    return chain_counts(seen, rules)


# ---------------------------------------------------------------- Built for Zero


def statuses(items: Sequence[Fact], days: Sequence[date], rules: Rules) -> list[str]:
    """The person's status at the end of each night (nights ascending), in one pass over their facts."""
    known = Known()
    result, i = [], 0
    for day in days:
        while i < len(items) and night_of(items[i].at, rules.zone) <= day:
            known.take(items[i])
            i += 1
        result.append(known.status(day, rules))
    return result


@dataclass(slots=True)
class Known:
    """What a person's facts so far say about their Built for Zero status: the latest of each
    kind, and the time of the latest fact taken (the statistics projection keeps it per record,
    to go on from it when later facts come)."""

    homeless: datetime | None = None
    housed: datetime | None = None
    contact: datetime | None = None
    closed: datetime | None = None
    close_reason: str | None = None
    latest: datetime | None = None

    def take(self, fact: Fact) -> None:
        kind = fact.type
        if self.latest is None or fact.at > self.latest:
            self.latest = fact.at
        if (kind == "contact.recorded" and fact.data.get("bedded_down")) or kind == "bed.checked_in":
            self.homeless = fact.at
        if kind in ("contact.recorded", "bed.checked_in"):
            self.contact = fact.at
        elif kind in HOUSING_STEPS:
            self.housed = fact.at
        elif kind == "case.closed":
            self.closed, self.close_reason = fact.at, fact.data.get("close_reason")
        elif kind == "case.reopened":
            self.closed = self.close_reason = None

    def lapse(self, rules: Rules) -> date | None:
        """The night from which no contact for long enough makes the person inactive."""
        if self.homeless is None:
            return None
        last = max(t for t in (self.homeless, self.contact) if t is not None)
        return night_of(last, rules.zone) + timedelta(days=rules.inactive_after_days)

    def status(self, day: date, rules: Rules) -> str:
        if self.homeless is None:
            return "none"
        if self.closed is not None:
            return "inactive" if self.close_reason in INACTIVE_CLOSES else "left"
        if self.housed is not None and self.housed >= self.homeless:
            return "housed"
        lapse = self.lapse(rules)
        return "inactive" if lapse is not None and day >= lapse else "active"


FOREVER = date.max  # the end of a status that no fact known yet ends

# The facts a person's Built for Zero status depends on (`statuses`).
STATUS_TYPES = frozenset({"contact.recorded", "bed.checked_in", "case.closed", "case.reopened", *HOUSING_STEPS})


@dataclass(frozen=True, slots=True)
class Status:
    """A span of nights with one status: from the end of night `since` to the end of the night
    before `until` (FOREVER when nothing known ends it), and the status before it."""

    since: date
    until: date
    status: str
    previous: str


def status_spans(items: Sequence[Fact], rules: Rules) -> list[Status]:
    """A person's statuses as spans of nights, equal night by night to `statuses` for any nights
    (a property test checks it), with "none" left out. A status changes only on a night with a
    fact, or when no contact for `inactive_after_days` nights makes the person inactive: so the
    spans are found from the facts alone, and never need working out again as nights pass."""
    return continued_spans((), Known(), items, rules)


def continued_spans(spans: Sequence[Status], known: Known, items: Sequence[Fact], rules: Rules) -> list[Status]:
    """The spans of earlier facts (`spans`, and `known`, what those facts said) gone on with
    later ones (`items` in time order, none before `known.latest`): equal to `status_spans` of
    all the facts together, so the worker need not read a record's history again for each new
    contact. `known` takes the new facts.

    Why it is equal: the spans from the first new fact's night on were found from what was
    known at the last earlier night, and from that night's chance of lapsing into inactive
    before the next fact. Those are dropped and found again, from the same `known` with the new
    facts taken in; the spans before that night no later fact can change."""
    first = night_of(items[0].at, rules.zone) if items else FOREVER
    changes = [(span.since, span.status) for span in spans if span.since < first]
    current = changes[-1][1] if changes else "none"
    i = 0
    while i < len(items):
        night = night_of(items[i].at, rules.zone)
        while i < len(items) and night_of(items[i].at, rules.zone) <= night:
            known.take(items[i])
            i += 1
        moments = [night]
        # The night without contact long enough to be inactive, if it comes before the next fact.
        lapse = known.lapse(rules)
        if lapse is not None and lapse > night and (i == len(items) or lapse < night_of(items[i].at, rules.zone)):
            moments.append(lapse)
        for moment in moments:
            status = known.status(moment, rules)
            if status != current:
                changes.append((moment, status))
                current = status
    made = []
    previous = "none"
    for k, (since, status) in enumerate(changes):
        until = changes[k + 1][0] if k + 1 < len(changes) else FOREVER
        if status != "none":
            made.append(Status(since, until, status, previous))
        previous = status
    return made


def counted_from_spans(spans: Iterable[Status], start: date, end: date) -> dict[str, int]:
    """Built for Zero's counts for a period from people's status spans: what `built_for_zero`
    gives for the same people (the status at the end of each night from START-1 to END-1)."""
    return counted_from_changes(*span_changes(spans, start, end))


def span_changes(spans: Iterable[Status], start: date, end: date) -> tuple[Counter[tuple[str, str]], int]:
    """What Built for Zero counts of these spans for a period: how many begin in it, by
    (previous, status), and how many active ones cover its last night."""
    first, last = start - timedelta(days=1), end - timedelta(days=1)
    spans = list(spans)
    return (Counter((s.previous, s.status) for s in spans if first < s.since <= last),
            sum(s.status == "active" and s.since <= last < s.until for s in spans))


def counted_from_changes(changes: Mapping[tuple[str, str], int], active: int) -> dict[str, int]:
    """Built for Zero's counts from how many spans began in the period after each status with
    each status, (previous, status): how many, and how many active spans cover its last night."""
    counts = Counter(dict.fromkeys(("active", "inflow", *_INFLOW.values(), "outflow", *_OUTFLOW.values()), 0))
    for (previous, status), many in changes.items():
        if status == "active" and previous != "active":
            counts["inflow"] += many
            counts[_INFLOW[previous]] += many
        elif previous == "active" and status != "active":
            counts["outflow"] += many
            counts[_OUTFLOW[status]] += many
    counts["active"] += active
    return dict(counts)


_INFLOW = {"none": "newly_identified", "housed": "returned_from_housing", "inactive": "returned_from_inactive",
           "left": "returned_from_inactive"}
_OUTFLOW = {"housed": "housed", "inactive": "moved_to_inactive", "left": "no_longer_meets_criteria"}


Areas = Mapping[str, str | None]  # each person's last area at a period's end: `last_areas`


def _areas(facts: Sequence[Fact], end: date, rules: Rules, area: str | None, areas: Areas | None) -> Areas:
    """The last areas a figure of one area counts people by: given (worked out once for all the
    figures of a period: a pass over every fact), or worked out here."""
    if area is None:
        return {}
    return last_areas(facts, night_starts(end, rules.zone)) if areas is None else areas


def last_areas(facts: Sequence[Fact], until: datetime) -> dict[str, str | None]:
    """Each person's latest area before `until` (one pass: no sort needed)."""
    latest: dict[str, tuple[datetime, str, str]] = {}
    for fact in facts:
        area = fact.data.get("area_code")
        if area and fact.at < until:
            keep_latest(latest, fact.person, fact, area)
    return {person: area for person, (_, _, area) in latest.items()}


def built_for_zero(facts: Sequence[Fact], start: date, end: date, rules: Rules,
                   area: str | None = None, areas: Areas | None = None) -> dict[str, int]:
    days = [start - timedelta(days=1) + timedelta(days=k) for k in range((end - start).days + 1)]
    counts = Counter(dict.fromkeys(("active", "inflow", *_INFLOW.values(), "outflow", *_OUTFLOW.values()), 0))
    areas = _areas(facts, end, rules, area, areas)
    for person, items in _by_person(facts).items():
        if area is not None and areas.get(person) != area:
            continue
        seen = statuses(items, days, rules)
        for before, after in zip(seen, seen[1:], strict=False):
            if after == "active" and before != "active":
                counts["inflow"] += 1
                counts[_INFLOW[before]] += 1
            elif before == "active" and after != "active":
                counts["outflow"] += 1
                counts[_OUTFLOW[after]] += 1
        counts["active"] += seen[-1] == "active"
    return dict(counts)


# ---------------------------------------------------------------- reports and moves


def percentile(values: Sequence[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report_response(facts: Sequence[Fact], start: date, end: date, rules: Rules,
                    area: str | None = None) -> dict[str, Any]:
    received: dict[str, Fact] = {}
    # A report routed again, or given a second outcome, counts by its latest.
    routed: dict[str, tuple[datetime, str, datetime]] = {}
    attempts: dict[str, datetime] = {}
    given: dict[str, tuple[datetime, str, str]] = {}
    told: set[str] = set()
    for fact in facts:
        if fact.type == "report.received":
            received[fact.event_id] = fact
        report = str(fact.data.get("report_id"))
        if fact.type == "report.routed" and fact.data.get("due_by"):
            keep_latest(routed, report, fact, _aware(fact.data["due_by"]))
        elif fact.type in ("report.attempted", "report.outcome"):
            attempts[report] = min(attempts.get(report, fact.at), fact.at)
            if fact.type == "report.outcome":
                keep_latest(given, report, fact, fact.data.get("outcome") or "recorded")
        elif fact.type == "report.reporter_told":
            told.add(report)
    due = {report: at for report, (_, _, at) in routed.items()}
    outcomes = {report: outcome for report, (_, _, outcome) in given.items()}
    close = night_starts(end, rules.zone)
    hours, within, overdue, wanted, informed = [], 0, 0, 0, 0
    mix: Counter[str] = Counter()
    in_period = 0
    for report, fact in received.items():
        if not (start <= night_of(fact.at, rules.zone) < end) or (area and fact.data.get("area_code") != area):
            continue
        in_period += 1
        first = attempts.get(report)
        if first is not None and first <= close:
            hours.append((first - fact.at).total_seconds() / 3600)
        target = due.get(report)
        if target is not None:
            if first is not None and first <= target:
                within += 1
            elif target < close:  # the target passed, before the period's end, with no attempt
                overdue += 1
        mix[outcomes.get(report, "no_outcome_yet")] += 1
        if fact.data.get("wants_update"):
            wanted += 1
            informed += report in told
    return {
        "received": in_period,
        "attempted": len(hours),
        "hours_to_first_attempt_median": round(median(hours), 2) if hours else None,
        "hours_to_first_attempt_p90": None if (p90 := percentile(hours, 0.9)) is None else round(p90, 2),
        "attempted_within_target": within,
        "overdue": overdue,
        "outcomes": dict(sorted(mix.items())),
        "reporter_wanted_update": wanted,
        "reporter_told": informed,
    }


def _aware(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


MOVES = ("accommodation.", "work.")


def moves(facts: Sequence[Fact], start: date, end: date, rules: Rules, area: str | None = None,
          areas: Areas | None = None) -> dict[str, int]:
    areas = _areas(facts, end, rules, area, areas)
    counts: Counter[str] = Counter()
    for fact in facts:
        if not fact.type.startswith(MOVES) or not (start <= night_of(fact.at, rules.zone) < end):
            continue
        if area is not None and areas.get(fact.person) != area:
            continue
        counts[fact.type] += 1
    return dict(sorted(counts.items()))


def referrals(facts: Sequence[Fact], start: date, end: date, rules: Rules,
              area: str | None = None, areas: Areas | None = None) -> dict[str, Any]:
    """Referrals made in the period, the answers given in it, and the median hours from a
    referral being made to its acceptance (over the acceptances in the period)."""
    areas = _areas(facts, end, rules, area, areas)
    made_at = {f.event_id: f.at for f in facts if f.type == "referral.made"}
    counts: Counter[str] = Counter()
    waits: list[float] = []
    for fact in facts:
        if not fact.type.startswith("referral.") or not (start <= night_of(fact.at, rules.zone) < end):
            continue
        if area is not None and areas.get(fact.person) != area:
            continue
        counts[fact.type.removeprefix("referral.")] += 1
        made = made_at.get(str(fact.data.get("referral")))
        if fact.type == "referral.accepted" and made is not None:
            waits.append((_aware(fact.at) - _aware(made)).total_seconds() / 3600)
    median = percentile(waits, 0.5)
    return {"made": counts["made"], "accepted": counts["accepted"], "declined": counts["declined"],
            "withdrawn": counts["withdrawn"],
            "hours_to_accept_median": round(median, 1) if median is not None else None}


SEEN_ROUGH = frozenset({"report.received", "contact.recorded"})
_PREVENTION_COUNTED = frozenset({"risk.reported", "duty.prevention_started", "duty.prevention_ended"})


def prevention(facts: Sequence[Fact], start: date, end: date, rules: Rules,
               area: str | None = None, areas: Areas | None = None) -> dict[str, Any]:
    """Eyes and ears, for the period: risk of homelessness reports (by factor and by referring
    organisation), those referred with consent, their referrals accepted and the median hours
    from the report to the housing team's acceptance, prevention duties started and ended with
    accommodation secured (H-CLIC's "secured for 6 months or more"), and how many people reported
    at risk in the period were later seen sleeping rough (reported, or met bedded down)."""
    areas = _areas(facts, end, rules, area, areas)
    reported_at: dict[str, datetime] = {}
    counts: Counter[str] = Counter()
    factors: Counter[str] = Counter()
    referrers: Counter[str] = Counter()
    for fact in facts:
        # The kind first: most facts are of no kind counted here, and placing one in a night costs more.
        if fact.type not in _PREVENTION_COUNTED or not (start <= night_of(fact.at, rules.zone) < end):
            continue
        if area is not None and areas.get(fact.person) != area:
            continue
        if fact.type == "risk.reported":
            counts["risk_reports"] += 1
            counts["referred_with_consent"] += bool(fact.data.get("consent_to_refer"))
            factors.update(fact.data.get("factors", ()))
            referrers[str(fact.data.get("source", "unknown"))] += 1
            first = reported_at.get(fact.person)
            reported_at[fact.person] = fact.at if first is None else min(first, fact.at)
        elif fact.type == "duty.prevention_started":
            counts["prevention_duties_started"] += 1
        elif fact.type == "duty.prevention_ended":
            counts["prevention_duties_ended"] += 1
            counts["accommodation_secured"] += fact.data.get("outcome") == "accommodation_secured"
    made = {f.event_id: f for f in facts if f.type == "referral.made" and str(f.data.get("reason", "")).startswith(
        "Duty to refer")}
    waits: list[float] = []
    for fact in facts:
        if fact.type == "referral.accepted" and str(fact.data.get("referral")) in made and \
                start <= night_of(fact.at, rules.zone) < end:
            counts["referrals_accepted"] += 1
            waits.append((_aware(fact.at) - _aware(made[str(fact.data.get("referral"))].at)).total_seconds() / 3600)
    # Seen rough: only those reported at risk (a period's facts are about many more people).
    seen_rough: defaultdict[str, list[datetime]] = defaultdict(list)
    for fact in facts:
        if fact.person in reported_at and fact.type in SEEN_ROUGH and (
                fact.type != "contact.recorded" or fact.data.get("bedded_down")):
            seen_rough[fact.person].append(fact.at)
    later_rough = sum(1 for person, first in reported_at.items() if any(at > first for at in seen_rough[person]))
    median = percentile(waits, 0.5)
    return {
        "risk_reports": counts["risk_reports"], "referred_with_consent": counts["referred_with_consent"],
        "referrals_accepted": counts["referrals_accepted"],
        "hours_report_to_acceptance_median": round(median, 1) if median is not None else None,
        "prevention_duties_started": counts["prevention_duties_started"],
        "prevention_duties_ended": counts["prevention_duties_ended"],
        "accommodation_secured": counts["accommodation_secured"],
        "later_seen_sleeping_rough": later_rough,
        "by_factor": dict(sorted(factors.items())),
        "by_referring_organisation": dict(sorted(referrers.items())),
    }


def all_statistics(facts: Sequence[Fact], start: date, end: date, rules: Rules,
                   area: str | None = None) -> dict[str, Any]:
    areas = _areas(facts, end, rules, area, None)
    return {
        "chain": chain(facts, start, end, rules, area),
        "built_for_zero": built_for_zero(facts, start, end, rules, area, areas),
        "reports": report_response(facts, start, end, rules, area),
        "moves": moves(facts, start, end, rules, area, areas),
        "referrals": referrals(facts, start, end, rules, area, areas),
        "prevention": prevention(facts, start, end, rules, area, areas),
    }
