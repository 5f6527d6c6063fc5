"""Reporters told: a member of the public (or staff) who asked to hear back gets the outcome of
their report by email, and `report.reporter_told` is recorded; the projector then deletes their
contact details from the read model.

The journey stage makes one notice per report outcome, in the transaction that projects the
outcome (streams/delivery.push). The Notifier, a task
of the worker, sends due notices through SMTP and retries on the webhooks' schedule. The email
says what outreach found, in words, and nothing about the person reported. A worker killed
between the email and its record sends the email again (at-least-once, like every push).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine, Table, select, update

from journey.delivery import next_try
from journey.reports import OUTCOME_WORDS
from readmodel.data_keys import keyring
from readmodel.tables import reporter_notices, sighting_reports, timeline_entries
from readmodel.writes import dialect_insert
from schemas.events import ReportProgress, ReportProgressed, encode_event
from schemas.ids import reporter_told_id
from schemas.settings import Settings
from schemas.topics import INTAKE
from streams.runtime import Engine as StreamEngine
from streams.runtime import EngineStopped

log = logging.getLogger("journeys.reporters")


def make_notices(connection: Connection, rows: Sequence[dict[str, Any]], now: datetime) -> None:
    """One notice per report outcome (a report's second outcome makes none), in the caller's
    transaction: the journey stage's, with the outcome's projection."""
    if rows:
        connection.execute(
            dialect_insert(connection.engine)(reporter_notices).on_conflict_do_nothing(index_elements=["report_id"]),
            [{**row, "status": "pending", "attempts": 0, "next_try_at": now, "created_at": now} for row in rows])


def message(settings: Settings, *, to: str, report_id: str, received_at: datetime, area: str | None,
            outcome: str | None) -> EmailMessage:
    local = received_at.astimezone(settings.zone)
    where = f" in {area}" if area else ""
    said = OUTCOME_WORDS.get(outcome or "", "The outreach team has dealt with your report.")
    email = EmailMessage()
    email["From"] = settings.smtp_from
    email["To"] = to
    email["Subject"] = "Your report of someone sleeping rough"
    email.set_content(
        f"Thank you for your report of {local:%-d %B %Y at %H:%M}{where} (reference {report_id}).\n\n"
        f"{said}\n\nIf you see someone sleeping rough again, please report it again. "
        "If someone is in immediate danger, call 999.\n")
    return email


def claim_due(engine: Engine, table: Table, key: str, now: datetime, lease: timedelta,
              limit: int = 50) -> list[Any]:
    """The pending rows of a notice table (reporters', data protection leads') that are due, each
    leased to this worker: another worker takes a row only once its lease runs out."""
    free = table.c.leased_until.is_(None) | (table.c.leased_until < now)
    with engine.begin() as connection:
        due = connection.execute(select(table).where(table.c.status == "pending", table.c.next_try_at <= now, free)
                                 .order_by(table.c.next_try_at).limit(limit)).all()
        return [row for row in due if connection.execute(
            update(table).where(table.c[key] == getattr(row, key), free).values(leased_until=now + lease)).rowcount]


def _what_to_say(engine: Engine, report_id: str) -> tuple[Any, str | None]:
    """The report's row, and the reporter's email if they left one."""
    with engine.connect() as connection:
        report = connection.execute(select(sighting_reports).where(sighting_reports.c.report_id == report_id)).first()
        entry = connection.execute(select(timeline_entries.c.personal).where(
            timeline_entries.c.event_id == report_id)).scalar()
    reporter = keyring(engine).personal([(report_id, entry)])[0].get("reporter") or {}
    return report, reporter.get("email")


def _settle(engine: Engine, report_id: str, values: dict[str, Any]) -> None:
    with engine.begin() as connection:
        connection.execute(update(reporter_notices).where(reporter_notices.c.report_id == report_id)
                           .values(leased_until=None, **values))


class Notifier:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings, self.engine = settings, engine
        self.wake = asyncio.Event()

    async def run(self, stream: StreamEngine) -> None:
        """Tell reporters as their notices fall due; the told events go out through `stream`."""
        if not self.settings.smtp_host:
            log.info("SMTP_HOST is not set: reporters' notices are kept until it is")
            return
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 1.0)
            self.wake.clear()
            with contextlib.suppress(EngineStopped):  # stopping: the next worker tells the rest
                await self.round(stream)

    async def round(self, stream: StreamEngine) -> None:
        loop = asyncio.get_running_loop()
        now = datetime.now(UTC)
        lease = timedelta(seconds=self.settings.smtp_timeout_s + 10)
        due = await loop.run_in_executor(None, claim_due, self.engine, reporter_notices, "report_id", now, lease)
        for notice in due:
            await self.tell(stream, notice)

    async def tell(self, stream: StreamEngine, notice: Any) -> None:
        loop = asyncio.get_running_loop()
        report, email = await loop.run_in_executor(None, _what_to_say, self.engine, notice.report_id)
        now = datetime.now(UTC)
        if report is None or not report.wants_update or report.reporter_told_at is not None:
            await loop.run_in_executor(None, _settle, self.engine, notice.report_id,
                                       {"status": "not_wanted", "done_at": now})
            return
        if not email:
            # A phone number only: the outreach team calls, and records reporter_told by hand.
            await loop.run_in_executor(None, _settle, self.engine, notice.report_id,
                                       {"status": "no_contact", "done_at": now})
            return
        said = message(self.settings, to=email, report_id=notice.report_id, received_at=report.received_at,
                       area=report.area_code, outcome=report.outcome)
        try:
            await loop.run_in_executor(None, self.send, said)
        except (OSError, smtplib.SMTPException) as error:
            attempts = notice.attempts + 1
            later = next_try(attempts, now)
            log.warning("telling a reporter failed (%s); %s", type(error).__name__,
                        f"trying again at {later:%H:%M:%S}" if later else "giving up")
            await loop.run_in_executor(None, _settle, self.engine, notice.report_id, {
                "attempts": attempts, **({"next_try_at": later} if later else {"status": "failed", "done_at": now})})
            return
        told = ReportProgressed(
            id=reporter_told_id(notice.report_id), type="report.reporter_told", source="journeys", actor="notifier",
            subject=UUID(notice.person_id), time=now, recorded_at=now,
            data=ReportProgress(report_id=UUID(notice.report_id), team=report.team, area_code=report.area_code))
        await stream.send(self.settings.topic(INTAKE), notice.person_id.encode(), encode_event(told))
        await loop.run_in_executor(None, _settle, self.engine, notice.report_id,
                                   {"status": "sent", "attempts": notice.attempts + 1, "done_at": now})

    def send(self, email: EmailMessage) -> None:
        send_email(self.settings, email)


def send_email(s: Settings, email: EmailMessage) -> None:
    """Hands one email to the mail server (blocking: call it from a thread)."""
    with smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.smtp_timeout_s) as smtp:
        if s.smtp_starttls:
            # Verified: the server's certificate chains to a trusted authority and names the host.
            smtp.starttls(context=ssl.create_default_context(cafile=str(s.smtp_cafile) if s.smtp_cafile else None))
        if s.smtp_user:
            smtp.login(s.smtp_user, s.smtp_password or "")
        smtp.send_message(email)
