"""The cost of the sharing policy per read.

    deploy/dev bench reads [--events 20000] [--reads 2000]

fills two SQLite read models with the town-centre scenario's journeys (folded in this process,
no Kafka), one with the personal parts in clear (as before stop 36) and one sealed as the API
seals them, then reads the same people's journeys: from the clear one as the read model holds
them (the baseline: load, build the view, serialise), from the sealed one the same way (plus
opening the boxes), and from the sealed one through the policy as an outreach member sees them
(plus break-glass lookup, the access decision, the reporters' rule, the filter, and the audit
row). It prints the rates and their ratios to the baseline.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import handlers
from bench.common import machine
from bench.pipeline import scenario
from journey.applied import Applied
from journey.history import History
from journey.identity import resolve_person
from journey.statistics import Rules
from readmodel.data_keys import keyring
from readmodel.database import read_model
from readmodel.keys import Principal, Role, add_member
from readmodel.people import get_journey
from readmodel.sharing import disclosed_journey
from schemas.events import decode_event
from schemas.settings import get_settings
from streams.projector import project


def fill(engine, events: int, sealed: bool) -> list[str]:  # noqa: ANN001
    """The scenario's journeys in the read model, as the worker would write them; their ids."""
    settings = get_settings()
    window = timedelta(days=settings.journey_refold_days)
    records, _entries = scenario(events, keys=keyring(engine) if sealed else None)
    histories: dict[object, History] = {}
    applied: list[Applied] = []
    for _key, value in records:
        event = decode_event(value)
        event = event.model_copy(update={"subject": resolve_person(event.subject, event.id)})
        recorded = handlers.record(histories.get(event.subject), event, settings.zone, window)
        histories[event.subject] = recorded.history
        applied.extend(Applied(o.journey, o.entry, e, refolded=e is not event) for o, e in recorded.published)
        if len(applied) >= 2000:
            project(engine, applied, datetime.now(UTC), Rules.configured(settings))
            applied = []
    project(engine, applied, datetime.now(UTC), Rules.configured(settings))
    return [str(person) for person in histories]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--reads", type=int, default=2_000)
    args = parser.parse_args()
    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="journeys-reads-") as workdir:
        def model(name: str):  # noqa: ANN202
            return read_model(settings.model_copy(update={
                "state_dir": Path(workdir), "database_url": f"sqlite:///{Path(workdir) / name}"}))

        clear, engine = model("clear.db"), model("sealed.db")
        print(f"machine: {machine()}")
        fill(clear, args.events, sealed=False)
        people = fill(engine, args.events, sealed=True)
        now = datetime.now(UTC)
        member = add_member(engine, organisation="bench-outreach", organisation_type=Role.OUTREACH, name="bench",
                            now=now)
        reader = Principal(key_id="bench", member_id=member, organisation="bench-outreach", role=Role.OUTREACH)
        chosen = [people[i % len(people)] for i in range(args.reads)]
        print(f"read model: {len(people):,} people from {args.events:,} events; {args.reads:,} reads each way")

        def plain(on) -> float:  # noqa: ANN001
            started = time.perf_counter()
            for person in chosen:
                found = get_journey(engine=on, person_id=person, now=now, zone=settings.zone,
                                    inactive_after_days=settings.case_inactive_after_days)
                assert found is not None
                found[0].model_dump_json()
            return args.reads / (time.perf_counter() - started)

        baseline, opened = plain(clear), plain(engine)
        started = time.perf_counter()
        for person in chosen:
            shown = disclosed_journey(engine, reader, person, settings, now, "bench")
            assert shown is not None
            json.dumps(shown)
        governed = args.reads / (time.perf_counter() - started)
        print(f"in clear, no policy: {baseline:8,.0f} reads/s (load, view, serialise: the baseline)")
        print(f"sealed, no policy:   {opened:8,.0f} reads/s (+ opening the personal parts)  "
              f"{opened / baseline:.1%} of the baseline ({(1 / opened - 1 / baseline) * 1e3:.2f} ms more per read)")
        print(f"sealed, the policy:  {governed:8,.0f} reads/s (+ access, filter, audit row)  "
              f"{governed / baseline:.1%} of the baseline ({(1 / governed - 1 / baseline) * 1e3:.2f} ms more per read)")
        clear.dispose()
        engine.dispose()


if __name__ == "__main__":
    main()
