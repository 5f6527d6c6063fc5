"""`journeys rebuild`: every journey and its read model again, from person-events' offset 0.

For a changed handler, statistic or read-model shape: the journeys are a fold of the events, so
they can always be made again. With the worker stopped, it:
1. waits until the worker's consumer group is empty (a stopped worker with a static name stays
   a member until its session times out);
2. forgets the journey stage's state: a tombstone for every person in its changelog;
3. empties the journey tables of the read model (journeys, timeline entries, sighting reports,
   referrals, profiles, search keys, statistics' statuses, rough sleeping and records of one person);
4. moves the group's person-events offsets back to 0;
5. runs a worker until it has caught up, with a progress bar, and stops it.
Identity decisions, aliases and beds are left as they are: they are not derived from
person-events. Consumers of journey-updates see each update again (keyed by event id); partners'
webhooks do not: a delivery's id comes from the event and its place, so a rebuilt update whose
place did not change makes no new delivery, and a report already told tells nobody again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from sqlalchemy import delete

from deploy.processes import start_worker
from readmodel.database import read_model
from readmodel.tables import (
    journeys,
    profiles,
    referrals,
    rough_sleeping,
    same_person,
    search_keys,
    sighting_reports,
    statistics_known,
    statistics_statuses,
    timeline_entries,
)
from schemas.settings import Settings
from schemas.topics import PERSON_EVENTS, changelog


class RebuildRefused(RuntimeError):
    """The rebuild cannot start: it says why."""


@dataclass(frozen=True)
class Rebuilt:
    events: int
    people_forgotten: int
    seconds: float


def rebuild(settings: Settings, say: Callable[[str], None], group_timeout_s: float = 60.0) -> Rebuilt:
    group = f"{settings.app_id}.stages"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, client_id="journeys-rebuild",
                             **settings.kafka_options())
    try:
        _wait_for_an_empty_group(admin, group, group_timeout_s, say)
        forgotten = _forget(settings, changelog(settings, "follow"))
        say(f"forgot the journey state of {forgotten:,} people")
        engine = read_model(settings)
        with engine.begin() as connection:
            for table in (timeline_entries, journeys, sighting_reports, referrals, profiles, search_keys,
                          statistics_statuses, statistics_known, same_person, rough_sleeping):
                connection.execute(delete(table))
        engine.dispose()
        say("emptied the journey tables of the read model")
        partitions, end = _person_event_partitions(settings)
        errors = admin.alter_group_offsets(group, {tp: OffsetAndMetadata(0, "", -1) for tp in partitions})
        failed = {tp.partition: error.__name__ for tp, error in errors.items() if error.__name__ != "NoError"}
        if failed:
            raise RebuildRefused(f"could not move the group's offsets back: {failed}")
        total = sum(end.values())
        say(f"replaying {total:,} person-events from offset 0")
        started = time.monotonic()
        worker = start_worker(settings, settings.state_dir / "logs" / "rebuild-worker.log")
        try:
            while True:
                offsets = admin.list_group_offsets({group: partitions})[group]
                done = sum(max(0, min(offsets[tp].offset, end[tp])) if tp in offsets else 0 for tp in partitions)
                _bar(done, total, time.monotonic() - started)
                if done >= total:
                    break
                if not worker.running():
                    raise RebuildRefused(f"the worker stopped; see {worker.log_file}")
                time.sleep(0.5)
        finally:
            worker.stop()
            sys.stdout.write("\n")
        return Rebuilt(events=total, people_forgotten=forgotten, seconds=time.monotonic() - started)
    finally:
        admin.close()


def _wait_for_an_empty_group(admin: KafkaAdminClient, group: str, timeout_s: float, say: Callable[[str], None]) -> None:
    deadline = time.monotonic() + timeout_s
    told = False
    while True:
        members = admin.describe_groups([group]).get(group, {}).get("members") or []
        if not members:
            return
        if time.monotonic() > deadline:
            raise RebuildRefused(f"the worker's group {group} still has {len(members)} member(s): stop every worker "
                                 "first (`journeys up` runs one)")
        if not told:
            say("waiting for the worker's group to be empty (a stopped worker leaves when its session times out)")
            told = True
        time.sleep(1.0)


def _forget(settings: Settings, topic: str) -> int:
    """A tombstone, in its own partition, for every key a compacted changelog holds."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False,
                             **settings.kafka_options())
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", **settings.kafka_options())
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        keys: dict[tuple[int, bytes], bool] = {}
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    keys[(record.partition, record.key)] = record.value is not None
        for (partition, key), alive in keys.items():
            if alive:
                producer.send(topic, key=key, value=None, partition=partition)
        producer.flush()
        return sum(keys.values())
    finally:
        producer.close()
        consumer.close()


def _person_event_partitions(settings: Settings) -> tuple[list[TopicPartition], dict[TopicPartition, int]]:
    topic = settings.topic(PERSON_EVENTS)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False,
                             **settings.kafka_options())
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        return partitions, consumer.end_offsets(partitions)
    finally:
        consumer.close()


def _bar(done: int, total: int, elapsed: float) -> None:
    share = done / total if total else 1.0
    rate = done / elapsed if elapsed > 0 else 0.0
    left = (total - done) / rate if rate else float("inf")
    filled = int(share * 30)
    eta = f"{left:.0f}s left" if left != float("inf") else "starting"
    sys.stdout.write(f"\r  [{'#' * filled}{'.' * (30 - filled)}] {share:6.1%}  {done:,}/{total:,} events  "
                     f"{rate:,.0f}/s  {eta}   ")
    sys.stdout.flush()
