"""The statistics projection: what the worker keeps so that any period's figures read a small
part of the read model, and the reader that works them out from it.

The figures are defined once, in journey/statistics.py, over a person's facts. Reading every
fact for every request grew with the timeline (2 s at 100,000 events, issue 28). Two things
make a period cheap, both exact:

- Built for Zero's statuses are kept as spans of nights per record (`statistics_statuses`,
  `journey.statistics.status_spans`), with what the record's facts so far say
  (`statistics_known`): a batch's facts that come after a record's latest go on from those
  (`continued_spans`); a late one makes the record's spans again from all its facts. A period's
  inflow and outflow are the spans beginning in it, its active count the active spans covering
  its last night: for the whole city counted in SQL by kind of change, for one area read a row
  a span, as each person's last area decides.
- CHAIN is each person's rough sleeping summed up in SQL (`rough_sleeping`: nights in the
  period, the first and last, whether seen rough before it and in the period before that), one
  row a person seen, classified by `journey.statistics.chain_counts`.
- The other figures (reports, moves, referrals, prevention) depend only on the facts in the
  period and on the history of the people those facts are about: the reader loads those and
  gives them to the same functions as before.

Records of one person (merged or linked) count as one: the reader maps them with `same_person`,
kept by the worker from identity events, and works out Built for Zero for those few people
from their facts. A projection made for other rules (time zone, inactive nights) is not
trusted: until a worker has remade it (`remake`, at its start), the figures are worked out from
the whole timeline as before (`facts_from_timeline`, also the reference the tests and
`deploy/dev bench statistics` compare with)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache, partial
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, Text, and_, delete, distinct, func, or_, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite

from journey.applied import Applied
from journey.nights import night_of, night_starts
from journey.statistics import (
    STATUS_TYPES,
    Areas,
    Fact,
    Known,
    RoughSleeper,
    Rules,
    Status,
    built_for_zero,
    chain,
    chain_counts,
    continued_spans,
    counted_from_changes,
    counted_from_spans,
    in_time_order,
    last_areas,
    moves,
    people_as_one,
    prevention,
    referrals,
    report_response,
    span_changes,
)
from readmodel.data_keys import keyring
from readmodel.tables import (
    journeys,
    of_types,
    projections,
    rough_sleeping,
    same_person,
    statistics_known,
    statistics_statuses,
    timeline_entries,
)
from readmodel.writes import mark_made, write_many
from schemas.events import EVENT_TYPES, ContactRecorded, IdentityChanged

NAME = "statistics"
AT_ONCE = 500  # records a query names: well under every database's limit on parameters
_entry = timeline_entries.c
_span = statistics_statuses.c
_known = statistics_known.c
# Made once: write_many prepares a statement once for each statement object it is given.
_NEW_SPANS = statistics_statuses.insert()
# The data as JSON text, decoded by msgspec: SQLAlchemy's json.loads of each row was half the read.
# The time as text too on SQLite, parsed by datetime.fromisoformat: SQLAlchemy's parsing was the rest.
_FACT_COLUMNS = (_entry.event_id, _entry.person_id, _entry.type, type_coerce(_entry.occurred_at, Text).label("at"),
                 type_coerce(_entry.data, Text).label("data"))
# What the figures read of the history of the people a period's facts are about, besides the
# period itself and rough sleeping (kept apart): their reports' steps, the referrals answered,
# whether someone reported at risk was seen rough later (reported). (Their last area, for
# figures of one area, may come from any fact.)
_HISTORY_TYPES = ("report.received", "report.routed", "report.attempted", "report.outcome", "report.reporter_told",
                  "referral.made")
_NOT_CONTACTS = tuple(t for t in EVENT_TYPES if t != "contact.recorded")


def made_for(rules: Rules) -> str:
    """What the kept spans depend on: a change to either means they must be made again, as does
    a new version of what is kept (2: with `statistics_known`)."""
    return f"version=2;zone={rules.zone};inactive_after_days={rules.inactive_after_days}"


# ---------------------------------------------------------------- the worker's side


def statistics_updates(connection: Connection, updates: Sequence[Applied], rules: Rules) -> None:
    """Keep the projection up to date with a batch, in the batch's transaction (after its
    timeline entries were written): the spans of every record it brought a status fact for
    (gone on with, or made again from the record's facts if one came late, so any arrival order
    gives the same spans), and the records of one person as each identity event's journey says."""
    later: dict[str, list[Fact]] = defaultdict(list)
    for update in updates:
        if update.event.type in STATUS_TYPES and not update.refolded:
            later[str(update.journey.person_id)].append(_status_fact(update))
    go_on(connection, later, rules)
    write_many(connection, _new_rough(connection.dialect.name), [
        _rough_row(str(u.event.id), str(u.journey.person_id), u.event.time, u.event.data.area_code, rules)
        for u in updates if not u.refolded and isinstance(u.event, ContactRecorded) and u.event.data.bedded_down])
    newest: dict[Any, Any] = {}
    for update in updates:
        journey = update.journey
        if isinstance(update.event, IdentityChanged) and (
                journey.person_id not in newest or newest[journey.person_id].sequence < journey.sequence):
            newest[journey.person_id] = journey
    if newest:
        people = [str(p) for p in newest]
        connection.execute(delete(same_person).where(same_person.c.person_id.in_(people)))
        rows = [{"person_id": str(person), "other": str(other)} for person, journey in newest.items()
                for other in _same_as(journey.merged_into, journey.linked)]
        if rows:
            connection.execute(same_person.insert(), rows)


def _rough_row(event_id: str, person: str, at: datetime, area: str | None, rules: Rules) -> dict[str, Any]:
    return {"event_id": event_id, "person_id": person, "at": at, "night": night_of(at, rules.zone), "area_code": area}


def _same_as(merged_into: Any, linked: Iterable[Any]) -> set[Any]:
    """The other records of one person a record's journey names: the one it was merged into, those linked."""
    return {*((merged_into,) if merged_into else ()), *linked}


def _pairs_from_journeys(connection: Connection) -> list[tuple[str, str]]:
    """Every journey's records of the same person, read from the journeys themselves (all of them)."""
    return [(person, str(other)) for person, merged_into, state in connection.execute(
        select(journeys.c.person_id, journeys.c.merged_into, journeys.c.state))
        for other in _same_as(merged_into, (state or {}).get("linked") or ())]


def _status_fact(update: Applied) -> Fact:
    # Only what journey.statistics.Known takes of a status fact: the event has the rest.
    data = update.event.data
    reason = getattr(data, "close_reason", None)
    return Fact(str(update.journey.person_id), update.event.type, update.event.time,
                {"bedded_down": getattr(data, "bedded_down", None), "close_reason": reason and str(reason)},
                str(update.event.id))


def go_on(connection: Connection, later: dict[str, list[Fact]], rules: Rules) -> None:
    """The spans of these records gone on with their new status facts, from what is kept of
    their earlier ones: a read of a few rows a record, not of its history. A record whose new
    facts do not all come after its latest known (a late event, or one at the same moment, whose
    order the history decides) is made again from all its facts."""
    people = sorted(later)
    for at in range(0, len(people), AT_ONCE):
        some = people[at:at + AT_ONCE]
        known = {row.person_id: Known(row.homeless, row.housed, row.contact, row.closed, row.close_reason, row.latest)
                 for row in connection.execute(select(statistics_known).where(_known.person_id.in_(some)))}
        spans: dict[str, list[Status]] = defaultdict(list)
        for row in connection.execute(select(statistics_statuses).where(_span.person_id.in_(some))
                                      .order_by(_span.person_id, _span.since)):
            spans[row.person_id].append(Status(row.since, row.until, row.status, row.previous))
        again, made = [], {}
        for person in some:
            facts = sorted(later[person], key=in_time_order)
            mine = known.setdefault(person, Known())
            if mine.latest is not None and facts[0].at <= mine.latest:
                again.append(person)
            else:
                made[person] = continued_spans(spans[person], mine, facts, rules)
        if again:
            history = _facts_of(connection, again, types=STATUS_TYPES)
            for person in again:
                known[person] = Known()
                made[person] = continued_spans((), known[person], history[person], rules)
        # Most contacts change no status: their records' spans stay as they are.
        _store(connection, {person: new for person, new in made.items() if new != spans[person]}, known)


def remake_spans(connection: Connection, people: Collection[str], rules: Rules) -> None:
    """These records' spans made from all their status facts."""
    people = sorted(people)
    for at in range(0, len(people), AT_ONCE):
        some = people[at:at + AT_ONCE]
        history = _facts_of(connection, some, types=STATUS_TYPES)
        known = {person: Known() for person in history}
        _store(connection, {person: continued_spans((), known[person], history[person], rules) for person in history},
               known)


def _store(connection: Connection, spans: dict[str, list[Status]], known: dict[str, Known]) -> None:
    """Replace these records' spans, and what is known of each record in `known`."""
    if spans:
        connection.execute(delete(statistics_statuses).where(_span.person_id.in_(list(spans))))
        write_many(connection, _NEW_SPANS, [
            {"person_id": person, "since": s.since, "until": s.until, "status": s.status, "previous": s.previous}
            for person, made in spans.items() for s in made])
    # Written over in place, not deleted and inserted again: every record with a contact in the
    # batch has a row here, and a row found by a random key costs SQLite a page each way (at
    # 500,000 rows, 29 µs of CPU a row deleted and inserted, 18 one written over).
    if gone := [person for person, k in known.items() if k.latest is None]:
        connection.execute(delete(statistics_known).where(_known.person_id.in_(gone)))
    write_many(connection, _known_over(connection.dialect.name), [
        {"person_id": person, "homeless": k.homeless, "housed": k.housed, "contact": k.contact, "closed": k.closed,
         "close_reason": k.close_reason, "latest": k.latest}
        for person, k in known.items() if k.latest is not None])


def remake(engine: Engine, rules: Rules) -> int:
    """Make the projection whole from the timeline if it was not made for these rules (a read
    model from before it, or settings changed); how many records it made spans for."""
    with engine.connect() as connection:
        stored = connection.execute(select(projections.c.made_for).where(projections.c.name == NAME)).scalar()
    if stored == made_for(rules):
        return 0
    with engine.begin() as connection:
        connection.execute(delete(statistics_statuses))
        connection.execute(delete(statistics_known))
        connection.execute(delete(same_person))
        connection.execute(delete(rough_sleeping))
        contacts = connection.execute(select(*_FACT_COLUMNS).where(_entry.type == "contact.recorded")).all()
        write_many(connection, _new_rough(connection.dialect.name), [
            _rough_row(f.event_id, f.person, f.at, f.data.get("area_code"), rules)
            for f in map(_fact, contacts) if f.data.get("bedded_down")])
        people = connection.execute(select(distinct(_entry.person_id)).where(_entry.type.in_(STATUS_TYPES))).scalars()
        remake_spans(connection, list(people), rules)
        made = connection.execute(select(statistics_statuses.c.person_id).distinct()).scalars().all()
        if pairs := _pairs_from_journeys(connection):
            connection.execute(same_person.insert(), [{"person_id": p, "other": o} for p, o in pairs])
        mark_made(connection, NAME, made_for(rules))
    return len(made)


@lru_cache  # one statement object: write_many compiles it once
def _known_over(dialect: str) -> Any:
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(statistics_known)
    return insert.on_conflict_do_update(index_elements=[_known.person_id], set_={
        column.name: insert.excluded[column.name] for column in statistics_known.columns if column.name != "person_id"})


@lru_cache
def _new_rough(dialect: str) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert(rough_sleeping).on_conflict_do_nothing()


# ---------------------------------------------------------------- the reader


FIGURES = ("chain", "built_for_zero", "reports", "moves", "referrals", "prevention")


def statistics(engine: Engine, *, start: date | None = None, end: date | None = None, area: str | None,
               rules: Rules, periods: Sequence[tuple[date, date]] = (), figures: Collection[str] = FIGURES) -> Any:
    """The figures for one period (start, end), or a list of them for `periods`; only those named
    in `figures` (journey/statistics.py's six by default)."""
    wanted: list[tuple[date, date]] = list(periods) or [(start, end)]  # type: ignore[list-item]
    horizon = _horizon(max(e for _, e in wanted), rules)
    with engine.connect() as connection:
        kept = connection.execute(select(projections.c.made_for).where(projections.c.name == NAME)).scalar()
        if kept != made_for(rules):
            facts = facts_from_timeline(connection, horizon)
            found = [{"start": s, "end": e, "area": area, **_all(facts, s, e, rules, area, {}, figures)}
                     for s, e in wanted]
        else:
            groups = _groups(connection)
            found = [{"start": s, "end": e, "area": area,
                      **_period(connection, s, e, area, rules, horizon, groups, figures)} for s, e in wanted]
    return found if periods else found[0]


def _horizon(last: date, rules: Rules) -> datetime:
    # The facts the figures may see: up to the end of the last period's end date, in any time
    # zone (a report's outcome given that morning counts in its period's mix).
    return datetime(last.year, last.month, last.day, tzinfo=rules.zone) + timedelta(days=1)


def _all(facts: Sequence[Fact], start: date, end: date, rules: Rules, area: str | None,
         worked_out: dict[str, Any], figures: Collection[str], areas: Areas | None = None) -> dict[str, Any]:
    """The figures named, those in `worked_out` as they are, the rest from the facts."""
    ways = {
        "chain": chain, "built_for_zero": partial(built_for_zero, areas=areas), "reports": report_response,
        "moves": partial(moves, areas=areas), "referrals": partial(referrals, areas=areas),
        "prevention": partial(prevention, areas=areas),
    }
    return {name: worked_out[name] if name in worked_out else ways[name](facts, start, end, rules, area)
            for name in FIGURES if name in figures}


class _Groups:
    """Records of one person: each grouped record's fellow records, and the pairs."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs = list(pairs)
        joined: dict[str, set[str]] = {}
        for a, b in self.pairs:
            group = joined.get(a, {a}) | joined.get(b, {b})
            for record in group:
                joined[record] = group
        self.of = joined

    def records(self, people: Iterable[str]) -> set[str]:
        return set().union(*(self.of.get(p, {p}) for p in people))


def _groups(connection: Connection) -> _Groups:
    return _Groups(connection.execute(select(same_person.c.person_id, same_person.c.other)).tuples())


def _period(connection: Connection, start: date, end: date, area: str | None, rules: Rules, horizon: datetime,
            groups: _Groups, figures: Collection[str]) -> dict[str, Any]:
    zone = rules.zone
    begin, until = night_starts(start, zone), night_starts(end, zone)
    facts: dict[str, Fact] = {}
    involved: set[str] = set()
    about: set[str] = set()
    if set(figures) - {"built_for_zero"}:
        # Every fact of the period but its contacts (most of the timeline: the figures need only
        # those that found someone bedded down, kept apart). Every type named, so that the index
        # by type and time finds them: there is no index by time alone.
        in_period = and_(_entry.occurred_at >= begin, _entry.occurred_at < until)
        facts.update((f.event_id, f) for f in _facts_where(connection, and_(_entry.type.in_(_NOT_CONTACTS), in_period)))
        if area is not None:
            # For figures of one area its contacts too (a person's last area may come from any).
            facts.update((f.event_id, f) for f in _contacts_where(
                connection, and_(_entry.type == "contact.recorded", in_period)))
        # The people those facts are about: their last area counts for figures of one area. Those
        # of the facts but contacts (for the whole city, all of them), with the rest of their
        # history the figures look at: their reports' steps and referrals answered.
        involved = groups.records({f.person for f in facts.values()})
        about = groups.records({f.person for f in facts.values() if f.type != "contact.recorded"})
        # Prevention: those reported at risk in the period, seen rough later in it or after it.
        at_risk = groups.records({f.person for f in facts.values() if f.type == "risk.reported"})
        facts.update((f.event_id, f) for f in _rough_of(
            connection, at_risk, and_(rough_sleeping.c.at >= begin, rough_sleeping.c.at < horizon)))
    spans: list[tuple[str, Status]] = []
    if "built_for_zero" in figures and area is not None:
        spans = _spans(connection, start, end)
        involved |= {person for person, _ in spans}  # their last area decides whether they count
    # Outside the period: its facts are loaded already.
    outside = or_(_entry.occurred_at < begin, and_(_entry.occurred_at >= until, _entry.occurred_at < horizon))
    history = _facts_of(connection, sorted(about), when=outside, types=_HISTORY_TYPES)
    if area is not None:
        # Figures of one area count a person in their last area at the period's end. A fact of
        # the period with an area is later than any before it, so only the records with none
        # need their earlier facts (the rest of a city's years of contacts are not read).
        placed = {f.person for f in facts.values() if f.data.get("area_code") and begin <= f.at < until}
        for fact in _last_placed(connection, sorted(involved - placed), begin):
            history.setdefault(fact.person, []).append(fact)
    if "built_for_zero" in figures and groups.of:
        # The few grouped people's statuses are worked out from their facts.
        history.update(_facts_of(connection, sorted(groups.of), when=_entry.occurred_at < horizon,
                                 types=() if area else (*STATUS_TYPES, *_HISTORY_TYPES)))
    for items in history.values():
        facts.update((f.event_id, f) for f in items)
    as_one = people_as_one(_with_risk_factors(connection, list(facts.values()), begin, until), groups.pairs)
    worked_out: dict[str, Any] = {}
    if "chain" in figures:
        worked_out["chain"] = _chain(connection, start, end, area, rules, groups)
    # Each person's last area, once for every figure of one area.
    areas = last_areas(as_one, until) if area is not None else None
    if "built_for_zero" in figures:
        if areas is None:
            counted = Counter(_city_statuses(connection, start, end, groups))
        else:
            counted = Counter(counted_from_spans(
                (span for person, span in spans if person not in groups.of and areas.get(person) == area), start, end))
        roots = {min(group) for group in groups.of.values()}  # people_as_one's id for a group
        counted.update(built_for_zero([f for f in as_one if f.person in roots], start, end, rules, area))
        worked_out["built_for_zero"] = dict(counted)
    return _all(as_one, start, end, rules, area, worked_out, figures, areas)


def _chain(connection: Connection, start: date, end: date, area: str | None, rules: Rules,
           groups: _Groups) -> dict[str, int]:
    """CHAIN from each person's rough sleeping summed up in SQL (one row a person seen in the
    period, not a row a night: ~10,000 rows read and parsed a period of 28 nights at a million
    events took half of its time), the few grouped people's from their facts."""
    r, earlier = rough_sleeping.c, rough_sleeping.alias("earlier").c
    previous = night_starts(start - (end - start), rules.zone)
    begin = night_starts(start, rules.zone)
    seen = select(r.person_id, func.count(distinct(r.night)).label("nights"), func.min(r.night).label("first"),
                  func.max(r.night).label("last")).where(
        r.night >= start, r.night < end, *((r.area_code == area,) if area is not None else ())
    ).group_by(r.person_id).subquery()
    # Each person's last time seen rough before the period says both whether they were seen
    # before it and whether in the period before: one step back in the index by person and time
    # (a night begins at its start), not two searches.
    last_before = type_coerce(select(earlier.at).where(earlier.person_id == seen.c.person_id, earlier.at < begin)
                              .order_by(earlier.at.desc()).limit(1).scalar_subquery(), Text)
    summed = [RoughSleeper(nights, first, last, at is not None and _time(at) >= previous, at is not None)
              for person, nights, first, last, at in connection.execute(
                  select(seen.c.person_id, seen.c.nights, seen.c.first, seen.c.last, last_before)).tuples()
              if person not in groups.of]
    counted = Counter(chain_counts(summed, rules))
    if groups.of:
        grouped = _rough_of(connection, sorted(groups.of), rough_sleeping.c.at < night_starts(end, rules.zone))
        counted.update(chain(people_as_one(grouped, groups.pairs), start, end, rules, area))
    return dict(counted)


def _city_statuses(connection: Connection, start: date, end: date, groups: _Groups) -> dict[str, int]:
    """Built for Zero's counts for every record not grouped with another, counted in SQL by
    kind of change: no row a person (thousands a period at a million events) is read."""
    first, last = start - timedelta(days=1), end - timedelta(days=1)
    changes = Counter({(previous, status): many for previous, status, many in connection.execute(
        select(_span.previous, _span.status, func.count()).where(
            _span.since > first, _span.since <= last, or_(_span.status == "active", _span.previous == "active"))
        .group_by(_span.previous, _span.status)).tuples()})
    active = connection.execute(select(func.count()).select_from(statistics_statuses).where(
        _span.status == "active", _span.until > last, _span.since <= last)).scalar_one()
    # The grouped records' spans are taken off: those people are counted from their facts.
    grouped: list[Status] = []
    ordered, columns = sorted(groups.of), (_span.since, _span.until, _span.status, _span.previous)
    for at in range(0, len(ordered), AT_ONCE):
        rows = connection.execute(select(*columns).where(_span.person_id.in_(ordered[at:at + AT_ONCE])))
        grouped += (Status(*row) for row in rows)
    taken, taken_active = span_changes(grouped, start, end)
    changes.subtract(taken)
    return counted_from_changes(changes, active - taken_active)


def _spans(connection: Connection, start: date, end: date) -> list[tuple[str, Status]]:
    """The spans a period's Built for Zero counts: those beginning in it with an active status
    on either side, and the active ones covering its last night (an active span ends, at the
    latest, when no contact for long enough makes the person inactive: never FOREVER)."""
    first, last = start - timedelta(days=1), end - timedelta(days=1)
    columns = (_span.person_id, _span.since, _span.until, _span.status, _span.previous)
    found = {(r.person_id, r.since): r for r in connection.execute(select(*columns).where(
        _span.since > first, _span.since <= last, or_(_span.status == "active", _span.previous == "active")))}
    found.update(((r.person_id, r.since), r) for r in connection.execute(select(*columns).where(
        _span.status == "active", _span.until > last, _span.since <= last)))
    return [(r.person_id, Status(r.since, r.until, r.status, r.previous)) for r in found.values()]


_ROUGH_COLUMNS = (rough_sleeping.c.event_id, rough_sleeping.c.person_id,
                  type_coerce(rough_sleeping.c.at, Text).label("at"), rough_sleeping.c.area_code)


def _rough(connection: Connection, condition: Any) -> list[Fact]:
    """Contacts that found someone bedded down, as the facts the figures read of them."""
    # Plain tuples, the time parsed as _fact does: SQLAlchemy's rows and type were most of the
    # read (a period of 28 nights and the one before it: ~10,000 rows at a million events).
    return [Fact(person, "contact.recorded", _time(at), {"bedded_down": True, "area_code": area}, event_id)
            for event_id, person, at, area in connection.execute(select(*_ROUGH_COLUMNS).where(condition)).tuples()]


def _rough_of(connection: Connection, people: Collection[str], condition: Any) -> list[Fact]:
    """These people's rough sleeping at the times `condition` allows."""
    ordered, found = sorted(people), []
    for at in range(0, len(ordered), AT_ONCE):
        found += _rough(connection, and_(rough_sleeping.c.person_id.in_(ordered[at:at + AT_ONCE]), condition))
    return found


def _time(at: Any) -> datetime:
    # Text on SQLite (UTC, as readmodel.tables.UTCDateTime stores it); PostgreSQL's driver gives
    # the time already made.
    return datetime.fromisoformat(at).replace(tzinfo=UTC) if isinstance(at, str) else at


def _fact(row: Any) -> Fact:
    event_id, person, kind, at, data = row
    # PostgreSQL's driver gives the json column's value already decoded.
    return Fact(person, kind, _time(at), msgspec.json.decode(data) if isinstance(data, str) else data or {}, event_id)


_CONTACT_COLUMNS = (_entry.event_id, _entry.person_id, type_coerce(_entry.occurred_at, Text).label("at"),
                    _entry.data["area_code"].as_string())


def _contacts_where(connection: Connection, condition: Any) -> list[Fact]:
    """Contacts as a period's figures of one area read them: where each was, taken out of the
    data in SQL (decoding every contact's data was a third of their time). Whether one found
    someone bedded down is read from rough sleeping, for the whole city as for one area."""
    return [Fact(person, "contact.recorded", _time(at), {"area_code": area}, event_id)
            for event_id, person, at, area in connection.execute(select(*_CONTACT_COLUMNS).where(condition)).tuples()]


def _facts_where(connection: Connection, condition: Any) -> list[Fact]:
    return [_fact(row) for row in connection.execute(select(*_FACT_COLUMNS).where(condition)).all()]


def _facts_of(connection: Connection, people: Sequence[str], *, types: Collection[str] = (),
              when: Any = None) -> dict[str, list[Fact]]:
    """These records' facts (of these types, at times `when` allows), each record's in time order."""
    found: dict[str, list[Fact]] = defaultdict(list)
    for at in range(0, len(people), AT_ONCE):
        query = select(*_FACT_COLUMNS).where(_entry.person_id.in_(people[at:at + AT_ONCE]))
        if types:
            query = query.where(of_types(types))
        if when is not None:
            query = query.where(when)
        for row in connection.execute(query).all():
            found[row.person_id].append(_fact(row))
    for items in found.values():
        items.sort(key=in_time_order)
    return found


def _last_placed(connection: Connection, people: Sequence[str], before: datetime) -> list[Fact]:
    """Each of these records' latest fact with an area before `before` (in `in_time_order`:
    the event id decides between facts at one moment), found by walking the record's entries
    back from `before` in the index by person and time: a row or two a record, however long its
    history (ranking all of each record's earlier facts took 100 ms a period at a million events)."""
    e = timeline_entries.alias("e").c
    found: list[Fact] = []
    for at in range(0, len(people), AT_ONCE):
        # The records named by their own entries (a VALUES list of them cost more to compile than
        # the walk), found in the same index.
        asked = select(_entry.person_id).where(_entry.person_id.in_(people[at:at + AT_ONCE])).distinct().subquery()
        latest = (select(e.event_id).where(e.person_id == asked.c.person_id, e.occurred_at < before,
                                           func.coalesce(e.data["area_code"].as_string(), "") != "")
                  .order_by(e.occurred_at.desc(), e.event_id.desc()).limit(1).correlate(asked).scalar_subquery())
        chosen = [event_id for event_id, in connection.execute(select(latest).select_from(asked)).tuples()
                  if event_id is not None]
        found += _facts_where(connection, _entry.event_id.in_(chosen)) if chosen else []
    return found


def _with_risk_factors(connection: Connection, facts: list[Fact], begin: datetime, until: datetime) -> list[Fact]:
    """A risk report's factors are in its personal part: only their codes are read, to count,
    and only for the reports the figures count (the period's)."""
    wanted = [f.event_id for f in facts if f.type == "risk.reported" and begin <= f.at < until]
    if not wanted:
        return facts
    rows = connection.execute(select(_entry.event_id, _entry.personal, _entry.source)
                              .where(_entry.event_id.in_(wanted))).all()
    opened = keyring(connection.engine).personal([(r.event_id, r.personal) for r in rows], connection)
    extra = {r.event_id: {"factors": fields.get("factors", []), "source": r.source}
             for r, fields in zip(rows, opened, strict=True)}
    return [Fact(f.person, f.type, f.at, {**f.data, **extra[f.event_id]}, f.event_id) if f.event_id in extra else f
            for f in facts]


def facts_from_timeline(connection: Connection, until: datetime) -> list[Fact]:
    """Every event up to `until`, with all the records of one person under one id: the whole
    timeline, as statistics were worked out before the projection (and when it cannot be trusted)."""
    rows = connection.execute(select(_entry.event_id, _entry.person_id, _entry.type, _entry.occurred_at,
                                     _entry.data, _entry.source).where(_entry.occurred_at < until)).all()
    # A risk report's factors are in its personal part: only their codes are read, to count.
    risks = connection.execute(select(_entry.event_id, _entry.personal)
                               .where(_entry.type == "risk.reported", _entry.occurred_at < until)).all()
    opened = keyring(connection.engine).personal([(r.event_id, r.personal) for r in risks], connection)
    factors = {r.event_id: fields.get("factors", []) for r, fields in zip(risks, opened, strict=True)}
    # Read here on its own, not through the projection's code: this is the reference it is checked against.
    same = []
    for person, merged_into, state in connection.execute(
            select(journeys.c.person_id, journeys.c.merged_into, journeys.c.state)):
        if merged_into:
            same.append((person, merged_into))
        same.extend((person, other) for other in (state or {}).get("linked", ()))
    facts = [Fact(r.person_id, r.type, r.occurred_at,
                  {**(r.data or {}), "factors": factors.get(r.event_id, []), "source": r.source}
                  if r.type == "risk.reported" else r.data or {}, r.event_id) for r in rows]
    return people_as_one(facts, same)

