"""The worker: the engine of streams/engine.py runs every stage as a batch step on one consumer.

identify:  intake -> person-events     resolves the person (following merges), re-keys by
                                       person id, and routes reports to their outreach team
judge-identity: identity-decisions -> intake (both halves of an accepted decision), SQL verdicts
follow:    person-events -> SQL read model, journey-updates; keeps each person's history (in
                                       event-time order, each event once; a redelivered event's
                                       outputs written and sent again)
                                       and, in the same transaction, deliveries to partners'
                                       webhooks and notices to reporters (streams/delivery.py
                                       and streams/reporters.py, whose deliverer and notifier
                                       tasks send them)
and the emergency-beds stages of streams/beds.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import platform
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

import mode
from aiokafka.structs import ConsumerRecord
from sqlalchemy import Engine as SQLEngine

import handlers
from journey.applied import Applied
from journey.history import History
from journey.identity import Alias, IdentityGraph, alias_after, both_halves, judge, resolve_person
from journey.reports import Routing
from readmodel.database import connect
from schemas.beds import RecordMerged
from schemas.events import (
    Event,
    IdentityChanged,
    ReportProgress,
    ReportProgressed,
    ReportReceived,
    UndecodableEvent,
    decode_event,
    encode_event,
)
from schemas.settings import Settings
from schemas.topics import (
    BED_REQUESTS,
    DEAD_LETTER,
    IDENTITY_DECISIONS,
    IDENTITY_KEY,
    INTAKE,
    JOURNEY_UPDATES,
    PERSON_EVENTS,
    changelog,
)
from schemas.updates import journey_update_json
from streams.audit import relay_audit
from streams.beds import bed_stages, release_no_shows
from streams.delivery import Deliverer, Pushed, push
from streams.engine import Batch, Engine, EngineStopped, Stage
from streams.faults import Faults
from streams.leads import LeadAlerter
from streams.projector import project_into, record_verdicts
from streams.referrals import expire_referrals
from streams.reporters import Notifier
from streams.store import StateStore
from streams.wiring import persist

log = logging.getLogger("journeys.follow")


ROUTED = UUID("0b6c3c55-6f0e-4f4e-9d3b-2f6a1c7e8d90")


def routed(event: Event, routing: Routing) -> list[ReportProgressed]:
    """A report is routed to its area's outreach team as it passes identity. The routing's id
    comes from the report's, so a redelivered report is routed once."""
    if not isinstance(event, ReportReceived):
        return []
    area = event.data.area_code
    return [ReportProgressed(
        id=uuid5(ROUTED, str(event.id)), type="report.routed", source="journeys", actor="router",
        subject=event.subject, time=event.time, recorded_at=event.recorded_at,
        data=ReportProgress(report_id=event.id, team=routing.team_for(area), area_code=area,
                            due_by=routing.due_by(area, event.time)),
    )]


def person_events_of(accepted: Event, value: bytes, person_id: UUID, routing: Routing) -> list[tuple[Event, bytes]]:
    """What identify sends on for an accepted event (`value`, its bytes), now known to be about
    `person_id`: the event about that person, and its report's routing; each with its bytes. An
    event that already names the person goes on as the bytes it came as (they decode to it):
    encoding it again cost a tenth of identify's time."""
    if accepted.subject == person_id:
        resolved: Event = accepted
    else:
        resolved = accepted.model_copy(update={"subject": person_id})
        value = encode_event(resolved)
    return [(resolved, value), *((step, encode_event(step)) for step in routed(resolved, routing))]


def journey_stages(settings: Settings, engine: SQLEngine, wake_deliverer: asyncio.Event,
                   wake_notifier: asyncio.Event) -> list[Stage]:
    person_events, intake = settings.topic(PERSON_EVENTS), settings.topic(INTAKE)
    bed_requests = settings.topic(BED_REQUESTS)
    journey_updates = settings.topic(JOURNEY_UPDATES)
    refold_window = timedelta(days=settings.journey_refold_days)
    routing, zone = Routing.configured(settings), settings.zone  # made once: each is a new object per call

    async def identify(batch: Batch) -> None:
        for record, accepted in batch.decoded(decode_event, UndecodableEvent):
            person_id = resolve_person(accepted.subject, accepted.id)
            alias = batch.load(record.partition, record.key, Alias)
            if isinstance(accepted, IdentityChanged):
                # A decision about this very record: it stays on it, and changes where the
                # record's later events go, and whose nights its bed requests count against.
                changed = alias_after(alias, accepted.type, accepted.data.other)
                if changed != alias:
                    batch.keep(record.partition, record.key, changed)
                before, after = (a.merged_into if a else None for a in (alias, changed))
                if before != after:
                    told = RecordMerged(type="person.merged" if after else "person.merge_undone",
                                        id=uuid5(accepted.id, "beds"), person_id=person_id,
                                        into=after or before, time=accepted.time)
                    batch.send(bed_requests, str(person_id).encode(), told.model_dump_json().encode())
            elif alias is not None and alias.merged_into is not None:
                person_id = alias.merged_into  # merged: later events join the surviving record
            key = str(person_id).encode()
            for person_event, value in person_events_of(accepted, record.value, person_id, routing):
                batch.send(person_events, key, value, decoded=person_event)

    async def follow(batch: Batch) -> None:
        applied: list[tuple[ConsumerRecord, Applied]] = []
        redelivered = 0
        for record, person_event in batch.decoded(decode_event, UndecodableEvent):
            history = batch.load(record.partition, record.key, History)
            try:
                recorded = handlers.record(history, person_event, zone, refold_window)
            except handlers.Rejected as rejection:
                batch.dead_letter(record, f"rejected: {rejection.reason}")
                continue
            batch.keep(record.partition, record.key, recorded.history)
            redelivered += recorded.redelivered
            for (outcome, source), kept in zip(recorded.published, recorded.kept, strict=True):
                done = Applied(outcome.journey, outcome.entry, source, refolded=source is not person_event,
                               history=recorded.history)
                applied.append((record, done))
                batch.send(journey_updates, record.key, journey_update_json(done.entry, kept.event, done.refolded))
        # The read model is written from this very step, once per person per batch, with the
        # deliveries and notices that announce what it stores, in one transaction.
        pushed: list[Pushed] = []

        def project_and_push(engine: SQLEngine, rows: Sequence[Applied], now: datetime) -> None:
            with engine.begin() as connection:
                project_into(connection, rows, now)
                pushed.append(push(connection, rows, now))

        def wake() -> None:
            if any(p.deliveries for p in pushed):
                wake_deliverer.set()
            if any(p.notices for p in pushed):
                wake_notifier.set()

        persist(project_and_push, engine, applied, batch, then=wake)
        if redelivered:
            log.info("follow: %d events had been applied before; their outputs were sent again", redelivered)

    async def judge_identity(batch: Batch) -> None:
        # Every decision arrives under one key, so this one stage sees them all in one order:
        # two concurrent decisions about a record cannot both win, and no merge forms a chain.
        verdicts: list[tuple[ConsumerRecord, dict[str, Any]]] = []
        for record, decision in batch.decoded(decode_event, UndecodableEvent):
            if record.key != IDENTITY_KEY or not isinstance(decision, IdentityChanged) or decision.subject is None:
                batch.dead_letter(record, "rejected: not an identity decision under the decisions key")
                continue
            graph = batch.load(record.partition, IDENTITY_KEY, IdentityGraph) or IdentityGraph()
            graph, refusal = judge(graph, decision.id, decision.type.removeprefix("identity."), decision.subject,
                                   decision.data.other)
            batch.keep(record.partition, IDENTITY_KEY, graph)
            if refusal is None:
                for half in both_halves(decision):
                    batch.send(intake, str(half.subject).encode(), encode_event(half))
            verdicts.append((record, {
                "decision_id": str(decision.id), "decision": decision.type.removeprefix("identity."),
                "person_id": str(decision.subject), "other": str(decision.data.other),
                "status": "refused" if refusal else "accepted", "reason": refusal,
                "decided_by": decision.source, "decided_at": decision.time,
            }))
        persist(record_verdicts, engine, verdicts, batch)

    return [
        Stage("identify", settings.topic(INTAKE), identify, changelog(settings, "identify")),
        Stage("follow", person_events, follow, changelog(settings, "follow"),
              keep_decoded=settings.worker_decoded_histories),
        Stage("judge-identity", settings.topic(IDENTITY_DECISIONS), judge_identity,
              changelog(settings, "judge-identity")),
    ]


def create_engine(settings: Settings, read_model: SQLEngine, deliverer: Deliverer, notifier: Notifier) -> Engine:
    return Engine(
        bootstrap=settings.kafka_bootstrap_servers,
        group=f"{settings.app_id}.stages",
        stages=[*journey_stages(settings, read_model, deliverer.wake, notifier.wake),
                *bed_stages(settings, read_model)],
        dead_letter_topic=settings.topic(DEAD_LETTER),
        batch_size=settings.worker_batch_size,
        fetch_wait_ms=int(settings.worker_batch_within_s * 1000),
        session_timeout_s=settings.worker_session_timeout_s,
        instance_id=settings.worker_instance_id,
        faults=Faults(settings.fault_injection),
        linger_ms=int(settings.worker_producer_linger_s * 1000),
        states=StateStore(settings.state_dir / "stages", cache_mib=settings.worker_state_cache_mib,
                          write_buffer_mib=settings.worker_state_write_buffer_mib),
    )


# Measured with the stages run in-process on 30,000 of the scenario's events (CPU per event):
# (700, 10, 10), Python's default, 350-430 µs; (50,000, 20, 100) 290-340 µs; collector off 270-290 µs.
# Later, on 100,000 events: (50,000, 20, 100) ran 45 collections that found no garbage at all and
# took 2.1 s (21 µs an event, one pause of 266 ms): each young object's references reach into a
# heap of hundreds of megabytes, ~1 µs an object. With a million, none ran; the benchmark's worker
# took 259-269 µs of CPU an event instead of 293-306, at the same memory.
GC_THRESHOLDS = (1_000_000, 20, 100)

# glibc's malloc keeps what the process frees for reuse, in one arena per thread that allocated
# (up to eight per core), and returns little of it to the system. Read off a worker with gdb's
# malloc_stats() at 300,000 events: 410 MB taken from the system, 242 MB in use; three threads'
# arenas held 52-54 MB each with 2-39 MB in use, and malloc_trim(0) gave back 133 MB of 726 MB
# resident. So the worker lets its threads share two arenas and trims now and then.
_GLIBC = ctypes.CDLL(None) if platform.libc_ver()[0] == "glibc" else None
_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h
MALLOC_ARENAS = 2
TRIM_EVERY_S = 10.0


def share_malloc_arenas() -> None:
    """Before the worker's threads start: they share MALLOC_ARENAS arenas (glibc only)."""
    if _GLIBC is not None:
        _GLIBC.mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


def give_back_free_memory() -> None:
    """Return the free pages of every malloc arena to the system (glibc only)."""
    if _GLIBC is not None:
        _GLIBC.malloc_trim(0)


class Worker(mode.Service):
    """The worker process: the engine and the no-show timer, run by mode (the service runtime
    faust-streaming is built on) for logging, signals and a clean stop."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        # The stages make and drop a few hundred thousand small objects a second, nearly all
        # freed by reference counting; with the default thresholds the cycle collector ran every
        # 700 allocations and walked the kept histories, a fifth of the worker's CPU.
        gc.set_threshold(*GC_THRESHOLDS)
        share_malloc_arenas()
        # One read-model engine for every stage and timer: connecting migrates, once.
        self.read_model = connect(settings.resolved_database_url, page_cache_mib=32)
        self.deliverer = Deliverer(settings, self.read_model)
        self.notifier = Notifier(settings, self.read_model)
        self.lead_alerter = LeadAlerter(settings, self.read_model)
        self.engine = create_engine(settings, self.read_model, self.deliverer, self.notifier)

    @mode.Service.task
    async def _run_stages(self) -> None:
        try:
            await self.engine.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            # Nothing of an unfinished batch is committed: exit as a crash would, and let the
            # supervisor start a worker that resumes from the committed offsets.
            log.exception("the stages stopped on an error; the worker exits")
            os._exit(70)

    @mode.Service.task
    async def _say_ready(self) -> None:
        await self.engine.ready.wait()
        log.info("journeys worker ready")

    @mode.Service.task
    async def _deliver(self) -> None:
        await self.engine.ready.wait()
        await self.deliverer.run()

    @mode.Service.task
    async def _tell_reporters(self) -> None:
        await self.engine.ready.wait()
        await self.notifier.run(self.engine)

    @mode.Service.task
    async def _tell_data_protection_leads(self) -> None:
        await self.engine.ready.wait()
        await self.lead_alerter.run()

    @mode.Service.task
    async def _relay_audit(self) -> None:
        while not self.should_stop:
            await self.sleep(self.settings.audit_relay_s)
            with contextlib.suppress(EngineStopped):  # stopping: the next worker relays the rest
                await relay_audit(self.settings, self.read_model, self.engine)

    @mode.Service.task
    async def _give_back_free_memory(self) -> None:
        while not self.should_stop:
            await self.sleep(TRIM_EVERY_S)
            give_back_free_memory()

    @mode.Service.task
    async def _expire_referrals(self) -> None:
        await self.engine.ready.wait()
        while not self.should_stop:
            await self.sleep(self.settings.referral_expiry_check_s)
            with contextlib.suppress(EngineStopped):  # stopping: the next worker expires the rest
                await expire_referrals(self.settings, self.read_model, self.engine)

    @mode.Service.task
    async def _release_no_shows(self) -> None:
        while not self.should_stop:
            await self.sleep(self.settings.bed_no_show_check_s)
            with contextlib.suppress(EngineStopped):  # stopping: the next worker releases them
                await release_no_shows(self.settings, self.engine)
