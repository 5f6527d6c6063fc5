"""Search and identity matching at size: the profile projection against scanning the timeline.

    deploy/dev bench search [--events 100000] [--searches 200]

fills a SQLite read model with the town-centre scenario's journeys, sealed as the API seals them
and projected as the worker projects them (folded in this process, no Kafka; the profiles and
search keys written with each batch), then times, through the sharing policy as an outreach
member searches (readmodel.sharing.search_people, audit row included):
- search by a name as heard (a street name, misspelt or cut short), by a date of birth, by a
  description word, by an area with a name; p50 and p95 of each;
- the candidates proposed for a record (readmodel.people.proposed_matches);
and, as the baseline in the same run, what both did before the projection (stop 38): read and
open every report and contact in the timeline, build every profile, then score them.

The scenario has 20 street names for all its people, so a name finds hundreds of true matches at
100,000 events (a city's names spread far wider): every one is opened and scored.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from uuid import UUID

from sqlalchemy import func, select

from bench.common import keep_option, machine, percentile, workdir
from bench.reads import fill
from deploy.scenario import MISSPELT, NAMES
from journey.matching import Profile, Search, candidates, description_words, found, search_keys
from readmodel.data_keys import keyring
from readmodel.database import read_model
from readmodel.keys import Principal, Role, add_member
from readmodel.people import proposed_matches
from readmodel.profiles import SAYS_WHO, read_in_order, recent_first, rekey
from readmodel.search_keys import people_with
from readmodel.sharing import search_people
from readmodel.tables import journeys, profiles, timeline_entries
from readmodel.tables import search_keys as search_key_rows
from schemas.settings import get_settings


def scanned_profiles(engine) -> dict[UUID, Profile]:  # noqa: ANN001
    """The baseline: every live record's profile made from every report and contact in the
    timeline, opened (what readmodel.people.profiles did before stop 39)."""
    names: dict[str, set[str]] = {}
    births: dict[str, date] = {}
    areas: dict[str, set[str]] = {}
    words: dict[str, set[str]] = {}
    with engine.connect() as connection:
        people = connection.execute(select(journeys.c.person_id, journeys.c.state)
                                    .where(journeys.c.merged_into.is_(None))).all()
        rows = connection.execute(select(timeline_entries.c.event_id, timeline_entries.c.person_id,
                                         timeline_entries.c.data, timeline_entries.c.personal)
                                  .where(timeline_entries.c.type.in_(SAYS_WHO))).all()
    opened = keyring(engine).personal([(row.event_id, row.personal) for row in rows])
    for row, personal in zip(rows, opened, strict=True):
        key, data = row.person_id, row.data or {}
        names.setdefault(key, set()).update(n for n in (personal.get("known_as"), *personal.get("aliases", ())) if n)
        if personal.get("date_of_birth"):
            births[key] = date.fromisoformat(personal["date_of_birth"])
        if data.get("area_code"):
            areas.setdefault(key, set()).add(data["area_code"])
        if personal.get("person_description"):
            words.setdefault(key, set()).update(description_words(personal["person_description"]))
    return {UUID(p.person_id): Profile(UUID(p.person_id), frozenset(names.get(p.person_id, ())),
                                       births.get(p.person_id), frozenset(areas.get(p.person_id, ())),
                                       frozenset(words.get(p.person_id, ())),
                                       frozenset(UUID(i) for i in (p.state or {}).get("not_same_as", ())))
            for p in people}


def timed(calls: list[Callable[[], object]]) -> tuple[list[float], list[object]]:
    took, results = [], []
    for call in calls:
        started = time.perf_counter()
        results.append(call())
        took.append((time.perf_counter() - started) * 1000)
    return took, results


def line(label: str, took: list[float]) -> str:
    return (f"{label:<34} p50 {percentile(took, 50):8.1f} ms   p95 {percentile(took, 95):8.1f} ms"
            f"   ({len(took)} calls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=5, help="searches and proposals timed the old way")
    keep_option(parser)
    args = parser.parse_args()
    settings = get_settings()
    rng = random.Random(39)
    with contextlib.ExitStack() as stack:
        directory = workdir(stack, args.keep, "journeys-search-")
        engine = read_model(settings.model_copy(update={
            "state_dir": directory, "database_url": f"sqlite:///{directory / 'search.db'}"}))
        print(f"machine: {machine()}")
        started = time.perf_counter()
        with engine.connect() as connection:
            people = list(connection.execute(select(journeys.c.person_id)).scalars())
        if people:
            print(f"read model kept in {directory}: not filled again (--events ignored)")
        else:
            people = fill(engine, args.events, sealed=True)
        filled = time.perf_counter() - started
        began = time.perf_counter()
        if made := rekey(engine, datetime.now(UTC)):  # as a worker does when it starts
            print(f"search keys made again for {made:,} profiles in {time.perf_counter() - began:.0f} s")
        with engine.connect() as connection:
            counts = [connection.execute(select(func.count()).select_from(t)).scalar()
                      for t in (timeline_entries, profiles, search_key_rows)]
        print(f"read model: {len(people):,} people from {counts[0]:,} events"
              + (f", filled in {filled:.0f} s ({counts[0] / filled:,.0f} events/s folded and projected here)"
                 if filled > 1 else "")
              + f"; {counts[0]:,} timeline entries, {counts[1]:,} profiles, {counts[2]:,} search keys")
        now = datetime.now(UTC)
        member = add_member(engine, organisation="bench-outreach", organisation_type=Role.OUTREACH, name="bench",
                            now=now)
        reader = Principal(key_id="bench", member_id=member, organisation="bench-outreach", role=Role.OUTREACH)
        sample = scanned_profiles(engine)
        born = sorted({p.date_of_birth for p in sample.values() if p.date_of_birth})
        areas = sorted({a for p in sample.values() for a in p.areas})
        words = sorted({w for p in sample.values() for w in p.description_words})

        def a_search() -> Search:
            kind = rng.randrange(4)
            name = rng.choice(NAMES)
            if kind == 0:
                return Search(name=rng.choice((MISSPELT.get(name, name), name[:3], name.lower())))
            if kind == 1 and born:
                return Search(date_of_birth=rng.choice(born))
            if kind == 2 and words:
                return Search(description=rng.choice(words))
            return Search(name=name, area=rng.choice(areas) if areas else None)

        searches = [a_search() for _ in range(args.searches)]
        took, shown = timed([lambda s=s: search_people(engine, reader, s, now, "bench") for s in searches])
        print(line("search, the projection:", took)
              + f"   {sum(map(len, shown)) / len(shown):.1f} people shown a search")
        targets = [UUID(rng.choice(people)) for _ in range(min(args.searches, 100))]
        matched, proposals = timed([lambda t=t: proposed_matches(engine, t, now) for t in targets])
        print(line("proposed matches, the projection:", matched)
              + f"   {sum(len(p or ()) for p in proposals) / len(proposals):.1f} proposed a record")

        # The baseline: the same searches' and proposals' profiles from the whole timeline.
        def scanned_in_order() -> list[Profile]:  # the order search reads them in: the most recently seen first
            everyone = scanned_profiles(engine)
            return [everyone[UUID(p)] for p in recent_first(engine, [str(p) for p in everyone])]

        old, old_found = timed([lambda s=s: found(scanned_in_order(), s) for s in searches[:args.baseline]])
        print(line("search, scanning the timeline:", old) + "   (before: profiles only, no policy or audit)")
        old_match, _ = timed([lambda t=t: candidates((e := scanned_profiles(engine))[t], list(e.values()))
                              for t in targets[:args.baseline] if t in sample])
        print(line("proposed matches, scanning:", old_match))
        print(f"ratio: search {percentile(old, 50) / percentile(took, 50):,.0f}x faster at the median, "
              f"proposals {percentile(old_match, 50) / percentile(matched, 50):,.0f}x")
        same = sum(1 for s, before in zip(searches, old_found, strict=False)
                   if [p.person_id for p in before] == [p.person_id for p in found(read_in_order(
                       engine, recent_first(engine, people_with(engine, search_keys(s), now))), s)])
        print(f"the same people found (before the policy) by the projection as by the scan: "
              f"{same} of {len(old_found)} searches")
        engine.dispose()


if __name__ == "__main__":
    main()
