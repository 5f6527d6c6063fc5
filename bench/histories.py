"""The projection's cost as people's histories grow: what a city's long-known people cost the worker.

    deploy/dev bench histories [--people 50] [--contacts 1000]

folds and projects, as the worker does (in this process, no Kafka, a SQLite read model), one
contact a night for each of N people, every night's contacts one batch, until each person has
M contacts (about three years of a person seen every night). For each fifth of the way it
prints the projection's CPU per batch (p50), and, as the baseline in the same run, what the
statistics projection did per batch before it went on from what it kept (stop 40): the same
people's Built for Zero spans made again from all their status facts
(readmodel.statistics.remake_spans, which the worker still does for a record a late event
reached). The benchmark scenario's people have about ten facts each, so `deploy/dev bench`
cannot show this growth.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import handlers
from bench.common import machine, percentile
from journey.applied import Applied
from journey.history import History
from journey.statistics import Rules
from readmodel.database import read_model
from readmodel.statistics import remake, remake_spans
from schemas.events import ContactDetails, ContactPersonal, ContactRecorded
from schemas.settings import get_settings
from streams.projector import project

FIRST = datetime(2024, 1, 1, 20, tzinfo=UTC)  # 20:00 UTC: a night's contact however the clocks go


def contact(person: uuid.UUID, at: datetime) -> ContactRecorded:
    return ContactRecorded(id=uuid.uuid4(), source="outreach", actor="bench", subject=person, time=at, recorded_at=at,
                           data=ContactDetails(team="TCO", worker="W1", bedded_down=True, engaged=True,
                                               area_code="TC-MARKET"),
                           personal=ContactPersonal())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--contacts", type=int, default=1000, help="contacts each person has at the end")
    args = parser.parse_args()
    settings = get_settings()
    rules = Rules.configured(settings)
    window = timedelta(days=settings.journey_refold_days)
    with tempfile.TemporaryDirectory(prefix="journeys-histories-") as workdir:
        engine = read_model(settings.model_copy(update={
            "state_dir": Path(workdir), "database_url": f"sqlite:///{Path(workdir) / 'histories.db'}"}))
        remake(engine, rules)
        print(f"machine: {machine()}")
        print(f"{args.people} people, one contact a night each, a night's contacts one batch, "
              f"up to {args.contacts:,} contacts a person")
        people = [uuid.uuid4() for _ in range(args.people)]
        histories: dict[uuid.UUID, History] = {}
        fifth = max(1, args.contacts // 5)
        projected: list[float] = []
        for night in range(args.contacts):
            batch: list[Applied] = []
            for person in people:
                event = contact(person, FIRST + timedelta(days=night))
                recorded = handlers.record(histories.get(person), event, settings.zone, window)
                histories[person] = recorded.history
                batch.extend(Applied(o.journey, o.entry, e, refolded=e is not event, history=recorded.history)
                             for o, e in recorded.published)
            started = time.process_time()
            project(engine, batch, FIRST + timedelta(days=night), rules)
            projected.append((time.process_time() - started) * 1000)
            if (night + 1) % fifth == 0:
                baseline = []
                for _ in range(5):
                    started = time.process_time()
                    with engine.begin() as connection:
                        remake_spans(connection, [str(p) for p in people], rules)
                    baseline.append((time.process_time() - started) * 1000)
                print(f"contacts {night + 2 - fifth:>5,} to {night + 1:>5,}: projection p50 "
                      f"{percentile(projected, 50):7.1f} ms a batch ({percentile(projected, 50) / args.people:5.2f} "
                      f"ms a contact); baseline, the spans made again from all facts: "
                      f"{percentile(baseline, 50):7.1f} ms a batch")
                projected = []
        engine.dispose()


if __name__ == "__main__":
    main()
