"""Rebuild benchmark: how long `journeys rebuild` takes to fold every journey and write the read
model again from person-events.

    deploy/dev bench rebuild [--events 300000]

1. N scenario events go through a worker end to end (intake -> identify -> person-events ->
   follow -> SQL), and the worker stops.
2. `deploy.rebuild.rebuild` (what `journeys rebuild` runs) forgets the journey state, empties the
   journey tables and replays person-events from offset 0 with a worker until it caught up.
It prints both rates, and what 1,000,000 events would take at the rebuild's rate (the target is
90 s, the goal 60 s: issue 28).
"""

from __future__ import annotations

import argparse
import os
import time

from sqlalchemy import func, select

from bench.common import machine
from bench.pipeline import end_to_end, scenario
from deploy.processes import start_worker
from deploy.rebuild import rebuild
from deploy.throwaway import throwaway_settings
from readmodel.database import read_model
from readmodel.tables import journeys, timeline_entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000)
    args = parser.parse_args()
    overrides = {"database_url": os.environ["DATABASE_URL"]} if os.environ.get("DATABASE_URL") else {}
    with throwaway_settings("rebuild", **overrides) as settings:
        engine = read_model(settings)
        try:
            print(f"machine: {machine()}")
            print(f"kafka: {settings.kafka_bootstrap_servers}; read model: {engine.dialect.name}; "
                  f"partitions: {settings.topic_partitions}")
            started = time.perf_counter()
            events, entries = scenario(args.events)
            print(f"made {len(events):,} scenario events in {time.perf_counter() - started:.0f} s")
            worker = start_worker(settings, settings.state_dir / "worker.log")
            try:
                loaded = end_to_end(settings, engine, events, entries)
            finally:
                worker.stop()
            print(f"end to end:  {args.events / loaded:8,.0f} events/s  ({args.events:,} events in {loaded:.1f} s)")
            with engine.connect() as connection:
                before = connection.execute(select(func.count()).select_from(timeline_entries)).scalar_one()
            done = rebuild(settings, say=lambda line: print(f"  {line}"))
            with engine.connect() as connection:
                after = connection.execute(select(func.count()).select_from(timeline_entries)).scalar_one()
                people = connection.execute(select(func.count()).select_from(journeys)).scalar_one()
            if after != before:
                raise RuntimeError(f"the rebuilt timeline has {after:,} entries, {before:,} before")
            rate = done.events / done.seconds
            print(f"rebuild:     {rate:8,.0f} events/s  ({done.events:,} person-events in {done.seconds:.1f} s, "
                  f"{people:,} people, {after:,} timeline entries as before)")
            print(f"1,000,000 events at that rate: {1_000_000 / rate:,.0f} s  (target <= 90 s, goal 60 s)")
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
