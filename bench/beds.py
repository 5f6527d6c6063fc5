"""Beds benchmark: allocation decisions per second and decision latency under contention.

    deploy/dev bench beds [--requests 5000] [--providers 10] [--beds 20] [--rate 100] [--seconds 20]

1. Baseline: the pure decisions (person's agent, then provider's agent) for the same requests,
   in one Python loop with no Kafka: the most the stream could ever do on one core.
2. Burst: every request produced at once to bed-requests; a fifth of the people are asked for
   at two providers on the same night. The clock runs from the first send until a decision for
   every request is on bed-updates (person's agent -> provider's agent -> decision published).
3. Latency: requests at a steady rate for another night, each timed from its send until its
   decision is read from bed-updates.
Both runs are checked afterwards: never more allocations than beds, nobody with two.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer

from bench.common import machine, percentile
from deploy.processes import start_worker
from deploy.throwaway import throwaway_settings
from handlers.beds import claim_night, decide
from schemas.beds import BedRequested, BedUpdate, CapacityChanged, ProviderRegistered
from schemas.settings import Settings
from schemas.topics import BED_COMMANDS, BED_REQUESTS, BED_UPDATES

DECISIONS = {"bed.allocated", "bed.waitlisted", "bed.refused"}


def providers_setup(providers: int, beds: int, night: date) -> list[ProviderRegistered | CapacityChanged]:
    now = datetime.now(UTC)
    commands: list[ProviderRegistered | CapacityChanged] = []
    for n in range(providers):
        common = {"provider_id": f"provider-{n:02d}", "source": "bench", "actor": "bench", "time": now}
        commands.append(ProviderRegistered(id=uuid.uuid4(), **common, name=f"Provider {n}", kind="hub",
                                           area_code="TC", no_show_release=clock_time(22), waitlist_limit=10))
        commands.append(CapacityChanged(id=uuid.uuid4(), **common, change="opened", bed_type="general",
                                        beds=beds, first_night=night))
    return commands


def requests_for(count: int, providers: int, night: date, seed: int) -> list[BedRequested]:
    """Requests where about one person in five is asked for at two providers."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    asks: list[BedRequested] = []
    while len(asks) < count:
        person = uuid.uuid4()
        for provider in rng.sample(range(providers), 2 if rng.random() < 0.2 else 1):
            asks.append(BedRequested(id=uuid.uuid4(), provider_id=f"provider-{provider:02d}", source="bench",
                                     actor="bench", time=now, person_id=person, night=night, bed_type="general"))
    return asks[:count]


def baseline(setup: list, asks: list[BedRequested]) -> float:
    """Decisions per second of the pure logic alone."""
    providers: dict = {}
    for command in setup:
        providers[command.provider_id] = decide(providers.get(command.provider_id), command).state
    people: dict = {}
    started = time.perf_counter()
    for ask in asks:
        claimed = claim_night(people.get(ask.person_id), ask)
        people[ask.person_id] = claimed.state
        if claimed.forward is not None:
            decision = decide(providers[ask.provider_id], claimed.forward)
            providers[ask.provider_id] = decision.state
            for outcome in decision.outcomes:
                people[ask.person_id] = claim_night(people[ask.person_id], outcome).state
    return len(asks) / (time.perf_counter() - started)


class DecisionWatcher:
    """Reads bed-updates and notes when each request's first decision was seen."""

    def __init__(self, settings: Settings) -> None:
        self.seen: dict[uuid.UUID, float] = {}
        self.outcomes: dict[uuid.UUID, tuple[str, str, int | None, uuid.UUID]] = {}
        self._stop = threading.Event()
        self._consumer = KafkaConsumer(settings.topic(BED_UPDATES), bootstrap_servers=settings.kafka_bootstrap_servers,
                                       auto_offset_reset="earliest", enable_auto_commit=False,
                                       group_id=f"bench-{uuid.uuid4().hex}")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for records in self._consumer.poll(timeout_ms=100).values():
                now = time.perf_counter()
                for record in records:
                    update = BedUpdate.model_validate_json(record.value)
                    for outcome in update.outcomes:
                        request = outcome.data.request_id
                        if outcome.type in DECISIONS:
                            self.seen.setdefault(request, now)
                        self.outcomes[request] = (outcome.type, outcome.data.provider_id, outcome.data.bed,
                                                  outcome.subject)

    def wait(self, wanted: set[uuid.UUID], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while not wanted <= self.seen.keys():
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{len(wanted - self.seen.keys())} requests got no decision in {timeout:.0f}s")
            time.sleep(0.01)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()

    def check(self, asks: list[BedRequested], beds_available: int) -> str:
        mine = [self.outcomes[a.id] for a in asks]
        allocated = [o for o in mine if o[0] == "bed.allocated"]
        beds = {(o[1], o[2]) for o in allocated}
        holders = Counter(o[3] for o in allocated)
        if len(allocated) > beds_available or len(beds) != len(allocated) or max(holders.values(), default=1) > 1:
            raise RuntimeError("overbooked: the benchmark found an invariant broken")
        kinds = Counter(o[0].removeprefix("bed.") for o in mine)
        return ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))


def settle(database: Path, quiet_s: float = 3.0) -> None:
    """Wait until the worker has drained the burst (the journeys of every outcome included), so
    that the latency run measures a steady state, not the tail of the burst."""
    import sqlite3

    last, still_since = -1, time.perf_counter()
    while time.perf_counter() - still_since < quiet_s:
        with sqlite3.connect(database) as connection:
            count = connection.execute("SELECT count(*) FROM timeline_entries").fetchone()[0]
        if count != last:
            last, still_since = count, time.perf_counter()
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--providers", type=int, default=10)
    parser.add_argument("--beds", type=int, default=20, help="general beds per provider")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second in the latency run")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the latency run")
    args = parser.parse_args()

    # No-shows stay out of the measurement: the timer would only add commands.
    with throwaway_settings("bench-beds", bed_no_show_check_s=3600) as settings:
        run(settings, args)


def run(settings: Settings, args: argparse.Namespace) -> None:
    workdir, servers = settings.state_dir, settings.kafka_bootstrap_servers
    burst_night = date(2026, 12, 1)
    steady_night = burst_night + timedelta(days=1)
    setup = providers_setup(args.providers, args.beds, burst_night)
    burst = requests_for(args.requests, args.providers, burst_night, seed=1)
    total_beds = args.providers * args.beds
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=5)
    worker = None
    watcher = DecisionWatcher(settings)
    try:
        print(f"machine: {machine()}")
        print(f"kafka: {servers}; partitions: {settings.topic_partitions}; "
              f"{args.providers} providers x {args.beds} beds = {total_beds} beds per night")
        pure = baseline(setup, burst)
        worker = start_worker(settings, workdir / "worker.log")
        for command in setup:
            producer.send(settings.topic(BED_COMMANDS), key=command.provider_id.encode(),
                          value=command.model_dump_json().encode())
        producer.flush()
        time.sleep(2)  # the providers exist before the contention starts

        started = time.perf_counter()
        for ask in burst:
            producer.send(settings.topic(BED_REQUESTS), key=str(ask.person_id).encode(),
                          value=ask.model_dump_json().encode())
        producer.flush()
        watcher.wait({a.id for a in burst}, timeout=600)
        elapsed = max(watcher.seen[a.id] for a in burst) - started
        rate = len(burst) / elapsed
        print(f"pure decisions (baseline): {pure:10,.0f} requests/s (one loop, no Kafka)")
        print(f"through the broker:        {rate:10,.0f} requests/s ({len(burst):,} requests in {elapsed:.2f} s; "
              f"{watcher.check(burst, total_beds)})")
        print(f"ratio:                     {rate / pure:10.1%} of the pure decisions")

        settle(workdir / "bench.db")
        steady = requests_for(int(args.rate * args.seconds), args.providers, steady_night, seed=2)
        sent: dict[uuid.UUID, float] = {}
        start = time.perf_counter()
        for n, ask in enumerate(steady):
            time.sleep(max(0.0, start + n / args.rate - time.perf_counter()))
            sent[ask.id] = time.perf_counter()
            producer.send(settings.topic(BED_REQUESTS), key=str(ask.person_id).encode(),
                          value=ask.model_dump_json().encode())
            producer.flush()
        watcher.wait(set(sent), timeout=120)
        latencies = [watcher.seen[r] - s for r, s in sent.items()]
        p50, p95, p99 = (percentile(latencies, q) * 1000 for q in (50, 95, 99))
        print(f"latency at {args.rate:.0f} requests/s for {args.seconds:.0f} s ({len(steady):,} requests; "
              f"{watcher.check(steady, total_beds)}): request to decision p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
              f"p99 {p99:.0f} ms")
    finally:
        watcher.close()
        producer.close()
        if worker is not None:
            worker.stop()


if __name__ == "__main__":
    main()
