"""The worker process: the stream runtime (streams/runtime/) runs every stage as a batch step on
one consumer, and mode (the service runtime faust-streaming is built on) runs it with the
worker's timers and senders. Each stage is a module of its own:

identify        intake -> person-events                                    streams/identify.py
follow          person-events -> read model, journey-updates, deliveries   streams/follow.py
judge-identity  identity-decisions -> intake, read model                   streams/judge_identity.py
claim-nights    bed-requests -> bed-commands, person-events, bed-updates   streams/claim_nights.py
allocate        bed-commands -> bed-requests, bed-updates                  streams/allocate.py
project-beds    bed-updates -> read model                                  streams/project_beds.py

and the tasks: the deliverer (delivery.py), the reporters' notifier (reporters.py), the leads'
alerter (leads.py), the invitations' mailer (invitations.py), the audit relay (audit.py), the
referral and no-show timers (referrals.py, release_no_shows.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from datetime import UTC, datetime

import mode
from sqlalchemy import Engine as SQLEngine

from journey.statistics import Rules
from readmodel.database import read_model
from readmodel.profiles import backfill, rekey
from readmodel.retention import Schedule, apply_retention
from readmodel.statistics import remake as remake_statistics
from schemas.settings import Settings
from schemas.topics import DEAD_LETTER
from schemas.updates import dead_letter_json
from streams import allocate, claim_nights, follow, identify, judge_identity, project_beds
from streams.audit import relay_audit
from streams.delivery import Deliverer
from streams.invitations import InvitationMailer
from streams.leads import LeadAlerter
from streams.month_flow import MonthFlow
from streams.referrals import expire_referrals
from streams.release_no_shows import release_no_shows
from streams.reporters import Notifier
from streams.runtime import DeadLetters, Engine, EngineStopped, Faults, Stage, StateStore, Tuning
from streams.runtime.tuning import give_back_free_memory, tune_process

log = logging.getLogger("journeys.worker")


def stages(settings: Settings, read_model: SQLEngine, wake: follow.Wake) -> list[Stage]:
    """Every stage the worker runs, one per input topic."""
    return [
        identify.stage(settings, read_model),
        follow.stage(settings, read_model, wake),
        judge_identity.stage(settings, read_model),
        claim_nights.stage(settings),
        allocate.stage(settings),
        project_beds.stage(settings, read_model),
    ]


def tuning(settings: Settings) -> Tuning:
    """The runtime's sizes and the process's tuning, from the settings (WORKER_*)."""
    return Tuning(
        batch_size=settings.worker_batch_size,
        fetch_wait_ms=int(settings.worker_batch_within_s * 1000),
        session_timeout_ms=int(settings.worker_session_timeout_s * 1000),
        max_poll_interval_ms=int(settings.worker_max_poll_interval_s * 1000),
        linger_ms=int(settings.worker_producer_linger_s * 1000),
        producer_batch_bytes=settings.worker_producer_batch_kib << 10,
        producer_request_bytes=settings.worker_producer_request_mib << 20,
        fetch_bytes=settings.worker_fetch_mib << 20,
        fetch_partition_bytes=settings.worker_fetch_partition_mib << 20,
        restore_fetch_bytes=settings.worker_restore_fetch_mib << 20,
        restore_partition_bytes=settings.worker_restore_partition_mib << 20,
        handed_values=settings.worker_handed_values,
        key_hashes=settings.worker_key_hashes,
        gc_thresholds=settings.worker_gc_thresholds,
        malloc_arenas=settings.worker_malloc_arenas,
        switch_interval_ms=settings.worker_switch_interval_ms,
        trim_every_s=settings.worker_trim_every_s,
    )


def create_engine(settings: Settings, read_model: SQLEngine, wake: follow.Wake) -> Engine:
    return Engine(
        bootstrap=settings.kafka_bootstrap_servers,
        group=f"{settings.app_id}.stages",
        stages=stages(settings, read_model, wake),
        dead_letters=DeadLetters(settings.topic(DEAD_LETTER), dead_letter_json),
        states=StateStore(settings.state_dir / "stages", cache_mib=settings.worker_state_cache_mib,
                          write_buffer_mib=settings.worker_state_write_buffer_mib),
        tuning=tuning(settings),
        instance_id=settings.worker_instance_id,
        faults=Faults(settings.fault_injection),
        connection=settings.kafka_options(for_asyncio=True),
    )


class Worker(mode.Service):
    """The worker process: the engine and the no-show timer, run by mode (the service runtime
    faust-streaming is built on) for logging, signals and a clean stop."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        # The stages make and drop a few hundred thousand small objects a second (WORKER_GC_THRESHOLDS,
        # WORKER_MALLOC_ARENAS): before any thread starts.
        tune_process(tuning(settings))
        # One read-model engine for every stage and timer: connecting migrates, once.
        self.read_model = read_model(settings, page_cache_mib=32)
        # A read model from before profiles were kept gets them once, before any stage writes.
        if made := backfill(self.read_model, datetime.now(UTC)):
            log.info("profiles made for %d people already in the read model", made)
        # Search keys made by an earlier version (without a kind of key proposals rely on) are made again.
        if made := rekey(self.read_model, datetime.now(UTC)):
            log.info("search keys made again for %d profiles", made)
        # Statistics' spans made for other rules (or none yet) are made again from the timeline.
        if made := remake_statistics(self.read_model, Rules.configured(settings)):
            log.info("statistics' statuses made again for %d records", made)
        self.deliverer = Deliverer(settings, self.read_model)
        self.notifier = Notifier(settings, self.read_model)
        self.lead_alerter = LeadAlerter(settings, self.read_model)
        self.invitation_mailer = InvitationMailer(settings, self.read_model)
        self.month_flow = MonthFlow(settings, self.read_model)
        self.engine = create_engine(settings, self.read_model, follow.Wake(self.deliverer.wake, self.notifier.wake))

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
    async def _email_invitations(self) -> None:
        await self.engine.ready.wait()
        await self.invitation_mailer.run()

    @mode.Service.task
    async def _relay_audit(self) -> None:
        while not self.should_stop:
            await self.sleep(self.settings.audit_relay_s)
            with contextlib.suppress(EngineStopped):  # stopping: the next worker relays the rest
                await relay_audit(self.settings, self.read_model, self.engine)

    @mode.Service.task
    async def _give_back_free_memory(self) -> None:
        while not self.should_stop:
            await self.sleep(self.settings.worker_trim_every_s)
            give_back_free_memory()

    @mode.Service.task
    async def _expire_referrals(self) -> None:
        await self.engine.ready.wait()
        while not self.should_stop:
            await self.sleep(self.settings.referral_expiry_check_s)
            with contextlib.suppress(EngineStopped):  # stopping: the next worker expires the rest
                await expire_referrals(self.settings, self.read_model, self.engine)

    @mode.Service.task
    async def _apply_retention(self) -> None:
        """The retention schedule (readmodel/retention.py), applied now and then; counts logged."""
        schedule = Schedule.configured(self.settings)
        while not self.should_stop:
            await self.sleep(self.settings.retention_check_s)
            removed = await asyncio.get_running_loop().run_in_executor(
                None, apply_retention, self.read_model, schedule, datetime.now(UTC))
            log.info("retention: removed %s", ", ".join(f"{n} {what}" for what, n in removed.items() if n) or "nothing")

    @mode.Service.task
    async def _work_out_month_flow(self) -> None:
        """The board's month's flow, when a board asked for it (streams/month_flow.py)."""
        await self.engine.ready.wait()
        try:
            while not self.should_stop:
                await self.sleep(self.settings.board_flow_check_s)
                await self.month_flow.once()
        finally:
            self.month_flow.close()

    @mode.Service.task
    async def _release_no_shows(self) -> None:
        while not self.should_stop:
            await self.sleep(self.settings.bed_no_show_check_s)
            with contextlib.suppress(EngineStopped):  # stopping: the next worker releases them
                await release_no_shows(self.settings, self.engine)
