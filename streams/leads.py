"""Data protection leads told at once: each break-glass grant (or refusal over the daily cap)
is emailed to the organisation's data protection leads who left an address.

The API writes the account event and a pending alert in one transaction; this task of the
worker sends due alerts through SMTP and retries on the webhooks' schedule. The email names the
member, the time and what happened, never the person or the reason (both are personal data and
wait behind the lead's sign-in: GET /v1/audit/break-glass). A worker killed between the email
and its record sends the email again.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Engine, select, update

from journey.delivery import next_try
from readmodel.tables import account_events, lead_alerts, members
from schemas.settings import Settings
from streams.reporters import claim_due, send_email

log = logging.getLogger("journeys.leads")

SAID = {"break_glass.taken": "used break-glass to read a person's record beyond the sharing policy",
        "break_glass.refused": "was refused break-glass: the member's daily cap is used up"}


def _what_to_say(engine: Engine, alert: Any) -> tuple[Any, str | None, list[str]]:
    """The account event, the name of the member it is about, and the leads' addresses."""
    with engine.connect() as connection:
        event = connection.execute(select(account_events).where(account_events.c.entry_id == alert.entry_id)).first()
        name = connection.execute(select(members.c.name).where(members.c.member_id == event.member_id)).scalar()
        leads = [email for (email,) in connection.execute(select(members.c.email).where(
            members.c.organisation == alert.organisation, members.c.data_protection_lead == 1,
            members.c.removed_at.is_(None), members.c.email.is_not(None)))]
    return event, name, leads


def message(settings: Settings, *, to: list[str], event: Any, member_name: str | None) -> EmailMessage:
    local = event.at.astimezone(settings.zone)
    email = EmailMessage()
    email["From"] = settings.smtp_from
    email["To"] = ", ".join(to)
    email["Subject"] = f"Break-glass at {event.organisation}"
    email.set_content(
        f"{member_name or 'A member'} (member {event.member_id}) of {event.organisation} "
        f"{SAID.get(event.action, event.action)} at {local:%H:%M on %-d %B %Y}.\n\n"
        "Who was read and the reason given are in the platform: GET /v1/audit/break-glass, with your key.\n"
        "If this was not expected, remove the member (DELETE /v1/members/{member_id}) and review the reads "
        "(GET /v1/audit).\n")
    return email


def _settle(engine: Engine, entry_id: int, values: dict[str, Any]) -> None:
    with engine.begin() as connection:
        connection.execute(update(lead_alerts).where(lead_alerts.c.entry_id == entry_id)
                           .values(leased_until=None, **values))


class LeadAlerter:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings, self.engine = settings, engine

    async def run(self) -> None:
        if not self.settings.smtp_host:
            log.info("SMTP_HOST is not set: data protection leads' alerts are kept until it is")
            return
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.round()
            except Exception:  # the read model away for a moment: the alerts wait, the worker goes on
                log.exception("data protection leads' alerts could not be read; trying again")

    async def round(self) -> None:
        loop = asyncio.get_running_loop()
        now = datetime.now(UTC)
        lease = timedelta(seconds=self.settings.smtp_timeout_s + 10)
        for alert in await loop.run_in_executor(None, claim_due, self.engine, lead_alerts, "entry_id", now, lease):
            await self.tell(alert)

    async def tell(self, alert: Any) -> None:
        loop = asyncio.get_running_loop()
        event, name, leads = await loop.run_in_executor(None, _what_to_say, self.engine, alert)
        now = datetime.now(UTC)
        if not leads:
            log.warning("ALERT %s at an organisation with no data protection lead's address: see GET "
                        "/v1/audit/accounts", event.action)
            await loop.run_in_executor(None, _settle, self.engine, alert.entry_id,
                                       {"status": "no_lead", "done_at": now})
            return
        try:
            await loop.run_in_executor(None, send_email, self.settings,
                                       message(self.settings, to=leads, event=event, member_name=name))
        except (OSError, smtplib.SMTPException) as error:
            attempts = alert.attempts + 1
            later = next_try(attempts, now)
            log.warning("telling a data protection lead failed (%s); %s", type(error).__name__,
                        f"trying again at {later:%H:%M:%S}" if later else "giving up")
            await loop.run_in_executor(None, _settle, self.engine, alert.entry_id, {
                "attempts": attempts, **({"next_try_at": later} if later else {"status": "failed", "done_at": now})})
            return
        await loop.run_in_executor(None, _settle, self.engine, alert.entry_id,
                                   {"status": "sent", "attempts": alert.attempts + 1, "done_at": now})
