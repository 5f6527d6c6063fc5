"""Pipeline benchmark: end-to-end events/s against a bare consumer, and submission-to-visible latency.

    deploy/dev bench [--events 100000] [--rate 200] [--seconds 30] [--workers 1]

1. Bare consumer: an aiokafka consumer (the client the worker uses) reads the N events from the
   intake topic and does nothing else: the ceiling for one process on this machine.
2. End to end: with the worker (or --workers processes sharing the partitions) idle, N events
   are produced to intake in one burst; the clock runs from the first send until the read model
   has committed all N timeline entries (intake -> identify -> person-events -> follow -> SQL).
   The workers' CPU per event is printed for the whole load and for each tenth of it: an event
   should cost the same whatever the read model and the states already hold.
3. Latency: submissions through the HTTP API at a steady rate; each one's latency runs from
   just before its POST until a poller sees its timeline entry in the read model.
4. The highest steady rate: the latency run again for --ramp-seconds at doubling rates from
   twice --rate, until the p99 reaches 1 s or the senders cannot keep the rate; the last rate
   that kept both is printed (--ramp-seconds 0 skips it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from sqlalchemy import func, select

from bench.api import MOST_CONNECTIONS, Client
from bench.common import cpu_seconds, machine, percentile
from deploy.processes import free_port, start_api, start_worker
from deploy.scenario import generate, intake_records
from deploy.throwaway import throwaway_settings
from readmodel.data_keys import Keyring, keyring
from readmodel.database import read_model
from readmodel.keys import Role, issue_key
from readmodel.tables import journeys, timeline_entries
from schemas.settings import Settings, get_settings
from schemas.topics import INTAKE


def scenario(count: int, seed: int = 1, keys: Keyring | None = None) -> tuple[list[tuple[bytes, bytes]], int]:
    """The town-centre scenario's phase 1 (every family the scenario sends), with enough people
    for about `count` events, sealed with `keys` as the API seals them (in clear without); and the
    number of timeline entries they make."""
    zone = get_settings().zone
    people = max(10, count // 10)
    while True:
        story = generate(datetime.now(zone).date(), zone, people=people, seed=seed)
        records, entries = intake_records(story, datetime.now(UTC), keys)
        if len(records) >= count:
            kept = records[:count]
            reports = sum(1 for _, value in kept if b'"type":"report.received"' in value)
            return kept, len(kept) + reports
        people = int(people * count / len(records)) + 10


def produce(settings: Settings, events: list[tuple[bytes, bytes]]) -> None:
    """Send the events to intake as the API's producers would (keyed by the event's key, to the
    default partitioner's partition), in record batches built by aiokafka's C code: kafka-python's
    producer took ~140 µs of CPU an event, on the two cores the worker and the broker need."""
    from aiokafka import AIOKafkaProducer

    from streams.runtime import Output
    from streams.runtime.engine import send_in_batches

    async def send_all() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all",
                                    max_batch_size=512 * 1024)
        await producer.start()
        try:
            topic = settings.topic(INTAKE)
            await send_in_batches(producer, (Output(topic, key, value) for key, value in events))
        finally:
            await producer.stop()

    asyncio.run(send_all())


async def bare_consumer(settings: Settings, count: int) -> float:
    """Records per second one aiokafka consumer reads of intake's first `count` records.

    The clock starts when the first batch arrives (so joining the group is not counted), and
    that first batch is therefore not counted either."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(settings.topic(INTAKE), bootstrap_servers=settings.kafka_bootstrap_servers,
                                group_id=f"bare-{uuid.uuid4().hex}", auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        seen, started, first = 0, None, 0
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=1000)
            got = sum(len(records) for records in batches.values())
            if started is None and got:
                started, first = time.perf_counter(), got
            seen += got
        if seen == first:
            raise RuntimeError("the whole topic came in one batch: use more events to measure a rate")
        return (seen - first) / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def worker_rss_mb(part) -> float:  # noqa: ANN001
    """A worker process's resident memory, from /proc (Linux)."""
    for line in open(f"/proc/{part.process.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def directory_mb(directory: Path) -> float:
    """What the files under a directory take, in MB (a file RocksDB removes meanwhile counts 0)."""
    total = 0
    for path in directory.rglob("*"):
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size if path.is_file() else 0
    return total / 1e6


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    ticks = [int(n) for n in open("/proc/stat").readline().split()[1:]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK"), sum(ticks) / os.sysconf("SC_CLK_TCK")


def committed(engine) -> int:  # noqa: ANN001
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(timeline_entries)).scalar_one()


def newest_entry(engine) -> int:  # noqa: ANN001
    """The timeline's highest rowid: entries are only ever added (an upsert that updates takes no
    new rowid), so it counts them, without counting a growing table twenty times a second on the
    machine the worker runs on."""
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT max(rowid) FROM timeline_entries").scalar() or 0


class Tenths:
    """The workers' CPU per event in each tenth of the load: whether the cost of an event grows
    with what the read model and the states already hold (the target: flat within 10 %)."""

    def __init__(self, entries: int, pids: list[int]) -> None:
        self.entries, self.pids = entries, pids
        self.marks: list[tuple[int, float]] = [(0, self._cpu())]

    def _cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def seen(self, count: int) -> None:
        if len(self.marks) <= 10 and count >= self.entries * len(self.marks) // 10:
            self.marks.append((count, self._cpu()))

    def __str__(self) -> str:
        each = [(cpu - cpu0) / (n - n0) * 1e6 for (n0, cpu0), (n, cpu) in pairwise(self.marks) if n > n0]
        if len(each) < 2:
            return "too few looks to tell"
        return (f"worker CPU per event in each tenth of the load {', '.join(f'{us:,.0f}' for us in each)} µs; "
                f"the dearest tenth {max(each) / each[0]:.2f}x the first (target: within 10 %)")


def end_to_end(settings: Settings, engine, events: list[tuple[bytes, bytes]], entries: int,  # noqa: ANN001
               progress: Callable[[int], None] | None = None) -> float:
    """Seconds from the first send until the read model holds every event's timeline entry
    (`entries`: a report also gets its routing). `progress` is told the entries written so far
    at each look."""
    before = committed(engine)
    watch = newest_entry if engine.dialect.name == "sqlite" else committed
    started = time.perf_counter()
    sender = threading.Thread(target=produce, args=(settings, events))
    sender.start()
    while (seen := watch(engine)) < before + entries or committed(engine) < before + entries:
        if progress is not None:
            progress(seen - before)
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    sender.join()
    return elapsed


def latency(settings: Settings, engine, rate: float,  # noqa: ANN001
            seconds: float) -> tuple[list[float], list[float], float]:
    """Submission-to-visible latencies (s) for submissions at a steady rate through the API, and
    how long the API took to answer each (its part of the latency: Kafka's ack included)."""
    key = issue_key(engine, organisation="bench", role=Role.OUTREACH, now=datetime.now(UTC))
    total = int(rate * seconds)
    submitted: dict[str, float] = {}
    answered: list[float] = []
    visible: dict[str, float] = {}
    done = threading.Event()

    # The client is kept light (asyncio on plain sockets, one reused database connection for the
    # poller): on two cores, a heavy client's own CPU shows up as latency.
    # The poller starts after what is already there: a first read of a million entries took it
    # seconds, and every submission of those first seconds was counted as that late (stop 43's
    # p99 of 2.5 s right after a million was this, not the worker).
    connection = engine.raw_connection()
    cursor = connection.cursor()
    cursor.execute("SELECT coalesce(max(rowid), 0) FROM timeline_entries")
    first = cursor.fetchone()[0]
    cursor.close()
    connection.commit()

    def poll() -> None:
        last = first
        try:
            while not done.is_set():
                cursor = connection.cursor()
                cursor.execute("SELECT rowid, event_id FROM timeline_entries WHERE rowid > ?", (last,))
                rows = cursor.fetchall()
                cursor.close()
                connection.commit()  # end the read transaction: the next query sees new rows
                now = time.perf_counter()
                for rowid, event_id in rows:
                    visible.setdefault(event_id, now)
                    last = max(last, rowid)
                time.sleep(0.002)
        finally:
            connection.close()

    poller = threading.Thread(target=poll)
    poller.start()
    # Open loop, from bench/api.py's light asyncio client: each submission is due at its moment
    # whether or not earlier ones were answered, and its latency runs from that moment (a sender
    # that waited for slow answers before sending would hide them).
    sent_at: list[float] = []

    async def send_all() -> None:
        client = Client(settings.api_host, settings.api_port, key)
        in_flight = asyncio.Semaphore(MOST_CONNECTIONS)
        start = time.perf_counter() + 0.05

        async def one(n: int) -> None:
            due = start + n / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            body = json.dumps({
                "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
                "person_id": str(uuid.uuid4()),
                "details": {"team": "T", "worker": "W1", "bedded_down": True, "engaged": n % 2 == 0},
                "personal": {"known_as": "J"},
            }).encode()
            async with in_flight:
                sent_at.append(time.perf_counter())
                status, answer = await client.post(body)
            if status != 202:
                raise RuntimeError(f"the API answered {status}")
            answered.append(time.perf_counter() - due)
            submitted[json.loads(answer)["event_id"]] = due

        try:
            await asyncio.gather(*(one(n) for n in range(total)))
        finally:
            client.close()
        sent_at.insert(0, start)

    asyncio.run(send_all())
    deadline = time.perf_counter() + 60
    while len(set(submitted) & set(visible)) < total and time.perf_counter() < deadline:
        time.sleep(0.05)
    done.set()
    poller.join()
    missing = total - len(set(submitted) & set(visible))
    if missing:
        raise RuntimeError(f"{missing} submissions never became visible")
    achieved = total / max(max(sent_at) - sent_at[0], 1e-9)
    return [visible[event_id] - sent for event_id, sent in submitted.items()], answered, achieved


def highest_steady_rate(settings: Settings, engine, start: float, seconds: float,  # noqa: ANN001
                        p99_at_start: float) -> None:
    """Double the rate until the p99 reaches 1 s or the senders fall 10 % short of the rate."""
    best = start if p99_at_start < 1.0 else None
    rate = start * 2
    tried = []
    while True:
        try:
            latencies, _answered, achieved = latency(settings, engine, rate, seconds)
        except RuntimeError as error:  # some were not visible a minute after the last was sent
            tried.append(f"{rate:,.0f}/s: {error}")
            break
        p99 = percentile(latencies, 99)
        short = " (the API's answers did not keep up: that is the limit)" if achieved < rate * 0.9 else ""
        tried.append(f"{rate:,.0f}/s: sent at {achieved:,.0f}/s, p99 {p99 * 1000:,.0f} ms{short}")
        if p99 >= 1.0 or achieved < rate * 0.9:
            break
        best, rate = rate, rate * 2
    said = f"{best:,.0f}/s" if best else f"below {start:,.0f}/s"
    print(f"highest steady rate with p99 under 1 s: {said}  ({'; '.join(tried)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=200.0, help="submissions per second in the latency run")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the latency run")
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the partitions")
    parser.add_argument("--unsealed", action="store_true", help="load intake with personal parts in clear")
    parser.add_argument("--ramp-seconds", type=float, default=8.0,
                        help="length of each run looking for the highest rate whose p99 stays under 1 s")
    args = parser.parse_args()

    overrides = {"api_port": free_port()}
    if os.environ.get("DATABASE_URL"):
        overrides["database_url"] = os.environ["DATABASE_URL"]
    with throwaway_settings("bench", **overrides) as settings:
        run(settings, args)


def run(settings: Settings, args: argparse.Namespace) -> None:
    workdir = settings.state_dir
    engine = read_model(settings)
    parts = []
    try:
        print(f"machine: {machine()}")
        print(f"kafka: {settings.kafka_bootstrap_servers}; read model: {engine.dialect.name}; "
              f"partitions: {settings.topic_partitions}")
        # --unsealed: intake in clear, as before personal parts were sealed (stop 36), to measure
        # what sealing costs the worker in the same hour.
        events, entries = scenario(args.events, keys=None if args.unsealed else keyring(engine))
        print(f"personal parts: {'in clear (--unsealed)' if args.unsealed else 'sealed, as the API sends them'}")
        kinds = Counter(json.loads(value)["type"].split(".")[0] for _, value in events)
        print("events: " + ", ".join(f"{kind} {n:,}" for kind, n in kinds.most_common()))
        for n in range(args.workers):
            each = settings.model_copy(update={"worker_instance_id": f"bench-worker-{n}"})
            parts.append(start_worker(each, workdir / f"worker-{n}.log"))
        broker_pid_file = workdir / "kafka" / "broker.pid"  # the benchmark's own broker, if it started one
        broker = int(broker_pid_file.read_text()) if broker_pid_file.exists() else None
        worker_cpu = [cpu_seconds(part.process.pid) for part in parts]
        broker_cpu, own_cpu = cpu_seconds(broker) if broker else 0.0, cpu_seconds(os.getpid())
        machine_before = machine_busy_seconds()
        tenths = Tenths(entries, [part.process.pid for part in parts])
        elapsed = end_to_end(settings, engine, events, entries, progress=tenths.seen)
        tenths.seen(entries)
        machine_after = machine_busy_seconds()
        worker_cpu = sum(cpu_seconds(part.process.pid) - before for part, before in zip(parts, worker_cpu, strict=True))
        broker_cpu = cpu_seconds(broker) - broker_cpu if broker else None
        own_cpu = cpu_seconds(os.getpid()) - own_cpu
        busy = (machine_after[0] - machine_before[0]) / (machine_after[1] - machine_before[1])
        pipeline_rate = args.events / elapsed
        with engine.connect() as connection:
            people = connection.execute(select(func.count()).select_from(journeys)).scalar_one()
        rss = sum(worker_rss_mb(part) for part in parts)
        bare_rate = asyncio.run(bare_consumer(settings, args.events))
        print(f"bare consumer:  {bare_rate:10,.0f} events/s  ({args.events:,} events)")
        print(f"end to end:     {pipeline_rate:10,.0f} events/s  ({args.events:,} events in {elapsed:.2f} s, "
              f"{args.workers} worker process{'es' if args.workers > 1 else ''})")
        per_event = [f"worker{'s' if args.workers > 1 else ''} {worker_cpu / args.events * 1e6:,.0f} µs "
                     f"({worker_cpu / elapsed:.0%} of a core)"]
        if broker_cpu is not None:
            per_event.append(f"broker {broker_cpu / args.events * 1e6:,.0f} µs")
        per_event.append(f"this benchmark's sender and poller {own_cpu / args.events * 1e6:,.0f} µs")
        print(f"CPU per event:  {', '.join(per_event)}; the machine was {busy:.0%} busy")
        print(f"as the read model grows: {tenths}")
        print(f"ratio:          {pipeline_rate / bare_rate:10.1%} of the bare consumer  (target >= 30%, >= 5,000/s)")
        on_disk = directory_mb(workdir / "stages")
        print(f"worker memory:  {rss:10,.0f} MB resident with {people:,} people's journeys "
              f"(target <= 500 MB with 100,000); their stage states take {on_disk:,.0f} MB on disk")

        workers = list(parts)
        parts.append(start_api(settings, workdir / "api.log"))
        latencies, answered, achieved = latency(settings, engine, args.rate, args.seconds)
        p50, p95, p99 = (percentile(latencies, q) * 1000 for q in (50, 95, 99))
        a50, a99 = (percentile(answered, q) * 1000 for q in (50, 99))
        print(f"latency at {args.rate:.0f}/s (sent at {achieved:,.0f}/s) for {args.seconds:.0f} s "
              f"({len(latencies):,} submissions), "
              f"submission to visible: p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms  (target p99 <= 250 ms); "
              f"of which the API's answer: p50 {a50:.0f} ms, p99 {a99:.0f} ms")
        # Read again once the load's batches, fetches and handed values are gone and malloc has
        # given free pages back (WORKER_TRIM_EVERY_S): what the worker keeps, not what a burst held.
        print(f"worker memory after the latency run: {sum(worker_rss_mb(part) for part in workers):,.0f} MB resident")
        if args.ramp_seconds > 0:
            highest_steady_rate(settings, engine, args.rate, args.ramp_seconds, p99 / 1000)
    finally:
        for part in parts:
            part.stop()
        engine.dispose()


if __name__ == "__main__":
    main()
