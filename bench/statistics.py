"""Statistics and the board's month's flow at size: the statistics projection against the whole timeline.

    deploy/dev bench statistics [--events 100000] [--years 1] [--periods 40] [--baseline 3]

fills a SQLite read model with the town-centre scenario's journeys, projected as the worker
projects them (folded in this process, no Kafka; Built for Zero's spans written with each
batch). The scenario is twelve weeks of a town; `--years N` spreads the events over N years as
a city's history would be (the scenario made for events/(N*4.3) events, and its timeline copied
into each earlier twelve weeks under new ids, the spans made again from it as a worker does
when it starts on a read model without them). Then it times, for periods of 7, 28 and 84 nights
ending on random nights of the data (and 28 nights in one area):
- `/v1/statistics`' figures (readmodel.statistics.statistics: all six), p50 and p95;
- the board's month's flow (readmodel.board.month_flow: two months of CHAIN, eight weeks of Built for
  Zero, referrals and 28 nights of prevention);
and, as the baseline in the same run, what they did before (stop 39): every fact of the
timeline loaded and every figure worked out from them (readmodel.statistics.facts_from_timeline
and journey.statistics.all_statistics), checking that both give the same figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import time
from datetime import date, datetime, timedelta
from uuid import UUID, uuid5

from sqlalchemy import Engine, delete, distinct, func, select

from bench.common import keep_option, machine, percentile, workdir
from bench.reads import fill
from bench.search import line, timed
from deploy.scenario import AREAS, WEEKS
from journey.nights import night_of
from journey.statistics import Rules, all_statistics
from readmodel.board import month_flow
from readmodel.database import read_model
from readmodel.statistics import facts_from_timeline, remake, statistics
from readmodel.tables import journeys, projections, statistics_statuses, timeline_entries
from readmodel.writes import write_many
from schemas.settings import get_settings

COPY = UUID("5f3b1c52-7c1e-4c2a-9a55-0d6f0b1d2e40")


def copied_back(engine: Engine, people: list[str], windows: int) -> list[str]:
    """The timeline copied into each earlier twelve weeks, under new event and person ids."""
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(select(timeline_entries))]
    everyone = list(people)
    for k in range(1, windows):
        back = timedelta(weeks=WEEKS * k)
        copies = [{**row, "event_id": str(uuid5(COPY, f"{k}/{row['event_id']}")),
                   "person_id": str(uuid5(COPY, f"{k}/{row['person_id']}")),
                   "occurred_at": row["occurred_at"] - back, "recorded_at": row["recorded_at"] - back,
                   "data": json.dumps(row["data"]), "personal": json.dumps(row["personal"])} for row in rows]
        with engine.begin() as connection:
            write_many(connection, timeline_entries.insert(), copies)
        everyone.extend(str(uuid5(COPY, f"{k}/{p}")) for p in people)
    return everyone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--years", type=float, default=0, help="spread the events over this many years")
    parser.add_argument("--periods", type=int, default=40, help="periods timed of each length")
    parser.add_argument("--baseline", type=int, default=3, help="periods worked out the old way")
    keep_option(parser)
    args = parser.parse_args()
    settings = get_settings()
    rules = Rules.configured(settings)
    rng = random.Random(40)
    with contextlib.ExitStack() as stack:
        directory = workdir(stack, args.keep, "journeys-statistics-")
        engine = read_model(settings.model_copy(update={
            "state_dir": directory, "database_url": f"sqlite:///{directory / 'statistics.db'}"}))
        print(f"machine: {machine()}")
        started = time.perf_counter()
        with engine.connect() as connection:
            people = list(connection.execute(select(journeys.c.person_id)).scalars())
        if people:
            print(f"read model kept in {directory}: not filled again (--events and --years ignored)")
        else:
            remake(engine, rules)  # an empty read model's projection, marked as made for these rules
            windows = max(1, round(args.years * 365 / (WEEKS * 7)))
            people = fill(engine, args.events // windows, sealed=True)
            if windows > 1:
                people = copied_back(engine, people, windows)
                with engine.begin() as connection:
                    connection.execute(delete(projections))
                remake(engine, rules)
        filled = time.perf_counter() - started
        with engine.connect() as connection:
            entries, spans = (connection.execute(select(func.count()).select_from(t)).scalar()
                              for t in (timeline_entries, statistics_statuses))
            first, last = connection.execute(select(func.min(timeline_entries.c.occurred_at),
                                                    func.max(timeline_entries.c.occurred_at))).one()
            # Counted in the timeline: the copies of a city's earlier years have no journeys rows.
            records = connection.execute(select(func.count(distinct(timeline_entries.c.person_id)))).scalar()
        print(f"read model: {records:,} people from {entries:,} events"
              + (f", filled in {filled:.0f} s ({entries / filled:,.0f} events/s folded and projected here)"
                 if filled > 1 else "")
              + f"; {entries:,} timeline entries, {spans:,} status spans; nights {night_of(first, rules.zone)} "
              f"to {night_of(last, rules.zone)}")
        nights = [night_of(first, rules.zone) + timedelta(days=k)
                  for k in range((night_of(last, rules.zone) - night_of(first, rules.zone)).days + 2)]

        def periods(length: int) -> list[tuple[date, date]]:
            ends = [rng.choice(nights[min(length, len(nights) - 1):]) for _ in range(args.periods)]
            return [(end - timedelta(days=length), end) for end in ends]

        timings: dict[str, list[float]] = {}
        for length in (7, 28, 84):
            wanted = periods(length)
            timings[f"{length} nights"], _ = timed([
                lambda s=s, e=e: statistics(engine, start=s, end=e, area=None, rules=rules) for s, e in wanted])
            print(line(f"statistics, {length} nights:", timings[f"{length} nights"]))
        in_area = periods(28)
        took, _ = timed([lambda s=s, e=e: statistics(engine, start=s, end=e, area=rng.choice(AREAS), rules=rules)
                         for s, e in in_area])
        print(line("statistics, 28 nights, one area:", took))
        board_nights = [rng.choice(nights[60:] or nights) for _ in range(max(5, args.periods // 4))]
        board, _ = timed([lambda n=n: month_flow(engine, rules, n) for n in board_nights])
        print(line("the board's month's flow:", board))

        # The baseline: the whole timeline loaded and every figure worked out from it.
        checked = periods(28)[:args.baseline]
        old: list[float] = []
        same = 0
        for start, end in checked:
            began = time.perf_counter()
            with engine.connect() as connection:
                facts = facts_from_timeline(connection, datetime(end.year, end.month, end.day, tzinfo=rules.zone)
                                            + timedelta(days=1))
            before = all_statistics(facts, start, end, rules)
            old.append((time.perf_counter() - began) * 1000)
            now = statistics(engine, start=start, end=end, area=None, rules=rules)
            same += {k: v for k, v in now.items() if k not in ("start", "end", "area")} == before
        print(line("statistics, 28 nights, the whole timeline:", old))
        print(f"ratio: {percentile(old, 50) / percentile(timings['28 nights'], 50):,.0f}x faster at the median "
              f"(28 nights); the same figures from both in {same} of {len(checked)} periods")
        engine.dispose()


if __name__ == "__main__":
    main()
