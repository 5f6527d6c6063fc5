"""Nothing lost, nothing doubled: the worker is killed with SIGKILL again and again while 20,000
events for 2,000 people flow through the real broker, many of them late and some sent twice.
Afterwards every journey and every timeline equals the fold of what was sent, in event-time order.

Then the same intake is replayed from offset 0 into a new, empty system: the rows are the same.

Two kinds of kill: the worker kills itself (FAULT_INJECTION) in the gaps between a batch's writes
(its outputs in Kafka and not its state; its outputs and state in Kafka and not its offsets),
the moments at which outputs used to be lost for good; and the test kills it from outside at
random moments. The figures are printed (run with -s to see them).
"""

from __future__ import annotations

import random
import signal
import time
import uuid
from collections import defaultdict
from datetime import timedelta, tzinfo
from typing import Any

import pytest
from kafka import KafkaProducer
from sqlalchemy import select

import handlers
from journey.history import order_key
from readmodel.tables import journeys, timeline_entries
from schemas.events import Event, encode_event
from schemas.topics import INTAKE
from tests.conftest import System
from tests.events import T0, accommodation, case, contact, work

pytestmark = pytest.mark.integration

PEOPLE = 2_000
EVENTS_EACH = 10
OUTSIDE_KILLS = 3
SELF_KILLS = 4


def _story(person: uuid.UUID, rng: random.Random) -> list[Event]:
    """Ten events over three weeks: nights on the street, day contacts, a case, maybe housing."""
    start = T0 + timedelta(days=rng.randint(0, 30), minutes=rng.randint(0, 600))
    steps: list[Any] = [lambda at: contact(person, at), lambda at: contact(person, at, bedded_down=False),
                        lambda at: contact(person, at, engaged=False)]
    events = [rng.choice(steps)(start + timedelta(days=k * 2, minutes=rng.randint(0, 300)))
              for k in range(EVENTS_EACH - 2)]
    events.append(case(person, start + timedelta(days=1), "key_worker_assigned"))
    later = start + timedelta(days=rng.randint(3, 15), hours=3)
    events.append(accommodation(person, later, "tenancy_started") if rng.random() < 0.5
                  else work(person, later, "course_enrolled"))
    return events


def _arrivals(sent: list[Event], rng: random.Random) -> list[Event]:
    """Mostly in event-time order; a tenth arrive days late (phones offline); 2% arrive twice."""
    ordered = sorted(sent, key=lambda e: e.time)
    late = [rng.random() < 0.1 for _ in ordered]
    arrivals = [e for e, is_late in zip(ordered, late, strict=True) if not is_late]
    for event in (e for e, is_late in zip(ordered, late, strict=True) if is_late):
        arrivals.insert(rng.randint(len(arrivals) // 2, len(arrivals)), event)
    for again in rng.sample(sent, len(sent) // 50):
        arrivals.insert(rng.randint(0, len(arrivals)), again)
    return arrivals


def _expected(sent: list[Event], zone: tzinfo) -> tuple[dict[str, dict], dict[str, tuple[int, str]]]:
    """Each journey and timeline entry as the plain fold, in event-time order, would have them."""
    mine: dict[uuid.UUID, list[Event]] = defaultdict(list)
    for event in sent:
        mine[event.subject].append(event)
    states, entries = {}, {}
    for person, events in mine.items():
        journey = None
        for event in sorted(events, key=order_key):
            outcome = handlers.apply(journey, event, zone)
            journey = outcome.journey
            entries[str(event.id)] = (outcome.entry.sequence, outcome.entry.stage.value)
        states[str(person)] = journey.model_dump(mode="json")
    return states, entries


def _stored(system: System) -> tuple[dict[str, dict], dict[str, tuple[int, str]]]:
    with system.engine.connect() as connection:
        states = {r.person_id: r.state for r in connection.execute(select(journeys.c.person_id, journeys.c.state))}
        entries = {r.event_id: (r.sequence, r.stage) for r in connection.execute(
            select(timeline_entries.c.event_id, timeline_entries.c.sequence, timeline_entries.c.stage))}
    return states, entries


def _redeliveries(system: System) -> int:
    """Events the worker found it had applied before, from every worker log of this test."""
    total = 0
    for log in system.settings.state_dir.glob("worker-*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if "had been applied before" in line:
                total += int(line.split("follow: ")[1].split(" ")[0])
    return total


def test_sigkill_at_any_moment_loses_and_doubles_nothing(make_settings) -> None:  # noqa: ANN001
    rng = random.Random(20261125)
    # The first few workers kill themselves at the awkward moment; later ones only by our hand.
    system = System(make_settings(fault_injection="after-outputs:0.25,after-state:0.25", topic_partitions=4))
    sent = [event for _ in range(PEOPLE) for event in _story(uuid.UUID(int=rng.getrandbits(128), version=4), rng)]
    arrivals = _arrivals(sent, rng)
    kills_at = sorted(rng.sample(range(1, 20), OUTSIDE_KILLS))
    recoveries: list[float] = []
    deaths = {"self": 0, "outside": 0}

    def keep_alive(killed_by_us: bool = False) -> None:
        """Restart a worker that died (killed by itself or by us) and time its recovery: from the
        death until the new worker holds its partitions with their state restored (it says it is
        ready); what it then processes is checked at the end."""
        if system.worker is None or system.worker.running():
            return
        died = time.monotonic()
        while True:
            deaths["outside" if killed_by_us else "self"] += 1
            killed_by_us = False
            if deaths["self"] >= SELF_KILLS:
                system.settings = system.settings.model_copy(update={"fault_injection": None})
            try:
                system.start_worker()
                break
            except RuntimeError:  # it killed itself again before it said it was ready
                continue
        recoveries.append(time.monotonic() - died)

    system.start_worker()
    producer = KafkaProducer(bootstrap_servers=system.settings.kafka_bootstrap_servers, acks="all", linger_ms=5)
    try:
        chunk = len(arrivals) // 20
        for part in range(20):
            for event in arrivals[part * chunk: (part + 1) * chunk if part < 19 else len(arrivals)]:
                producer.send(system.settings.topic(INTAKE), key=str(event.subject).encode(),
                              value=encode_event(event))
            producer.flush()
            if part in kills_at:
                time.sleep(rng.uniform(0.2, 1.5))  # somewhere in the middle of a batch
                if system.worker.running():
                    system.worker.process.send_signal(signal.SIGKILL)
                    system.worker.process.wait()
                    keep_alive(killed_by_us=True)
            keep_alive()
            time.sleep(0.5)

        states, entries = _expected(sent, system.settings.zone)
        deadline = time.monotonic() + 300
        stored: tuple[dict, dict] = ({}, {})
        while time.monotonic() < deadline:
            keep_alive()
            stored = _stored(system)
            if stored == (states, entries):
                break
            time.sleep(1.0)
        stored_states, stored_entries = stored
        lost = len(set(entries) - set(stored_entries))
        doubled = sum(max(0, stored_states.get(p, {}).get("sequence", 0) - s["sequence"]) for p, s in states.items())
        wrong_journeys = sum(stored_states.get(p) != s for p, s in states.items())
        wrong_entries = sum(stored_entries.get(e) != v for e, v in entries.items())
        redelivered = _redeliveries(system)
        print(f"\nfaults: events sent {len(sent)} ({len(arrivals)} arrivals, {len(arrivals) - len(sent)} twice), "
              f"people {PEOPLE}; worker deaths {deaths}; events redelivered after "
              f"being applied {redelivered}; lost {lost}; applied twice {doubled}; journeys differing "
              f"{wrong_journeys}; timeline entries differing {wrong_entries}; recovery after each death (s) "
              f"{[round(r, 1) for r in recoveries]}")
        assert (lost, doubled, wrong_journeys, wrong_entries) == (0, 0, 0, 0)
        # The test must have bitten: workers died mid-stream and redelivered events they had applied.
        assert deaths["self"] >= SELF_KILLS and deaths["outside"] >= 1 and redelivered > 0

        # A rebuild: the same intake from offset 0 into an empty history table and an empty read
        # model (a system of its own) gives the very same rows.
        rebuilt = System(make_settings(topic_partitions=4))
        for record in system.topic_records(INTAKE):
            producer.send(rebuilt.settings.topic(INTAKE), key=record.key, value=record.value)
        producer.flush()
        rebuilt.start_worker()
        try:
            rebuilt.wait_for("the rebuilt read model to equal the first", lambda: _stored(rebuilt) == stored,
                             timeout=300)
        finally:
            rebuilt.close()
    finally:
        producer.close()
        system.close()
