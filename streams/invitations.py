"""Invitations emailed by the platform: a lead who gives a member's address with an invitation
(POST /v1/members/{id}/invitations) has the worker send the one-time link there.

The API writes the invitation and the pending email in one transaction; this task of the worker
sends due ones through SMTP and retries on the webhooks' schedule, until the invitation is used,
withdrawn or expired. Sent or given up, the address and the link are forgotten (the row keeps
only the outcome), and the organisation's account audit says which, never the address or link.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Engine

from journey.delivery import next_try
from readmodel.passkeys import invitation_email_settled, invitation_to_email
from readmodel.tables import invitation_emails
from schemas.settings import Settings
from streams.reporters import claim_due, send_email

log = logging.getLogger("journeys.invitations")


def message(settings: Settings, *, to: str, member_name: str, organisation: str, link: str,
            expires_at: datetime) -> EmailMessage:
    email = EmailMessage()
    email["From"] = settings.smtp_from
    email["To"] = to
    email["Subject"] = "Your invitation to Journeys"
    email.set_content(
        f"Hello {member_name},\n\n"
        f"{organisation} has invited you to sign in to Journeys with a passkey: your phone or computer will ask "
        "for your fingerprint, face or PIN. There is no password.\n\n"
        f"Open this link on the phone or computer you will use, before "
        f"{expires_at.astimezone(settings.zone):%H:%M on %-d %B %Y}. It works once:\n\n{link}\n\n"
        "If you did not expect this, do not open it: tell your organisation's data protection lead.\n")
    return email


class InvitationMailer:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings, self.engine = settings, engine

    async def run(self) -> None:
        if not self.settings.smtp_host:
            return  # the API refuses to queue an email without a mail server
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.round()
            except Exception:  # the read model away for a moment: the emails wait, the worker goes on
                log.exception("invitation emails could not be read; trying again")

    async def round(self) -> None:
        loop = asyncio.get_running_loop()
        now = datetime.now(UTC)
        lease = timedelta(seconds=self.settings.smtp_timeout_s + 10)
        for row in await loop.run_in_executor(None, claim_due, self.engine, invitation_emails, "token_sha256", now,
                                              lease):
            await self.send(row)

    async def send(self, row: Any) -> None:
        loop = asyncio.get_running_loop()
        now = datetime.now(UTC)
        settle = invitation_email_settled
        found = await loop.run_in_executor(None, invitation_to_email, self.engine, row.token_sha256, now)
        if found is None:  # used, withdrawn or expired meanwhile: nothing worth sending
            await loop.run_in_executor(None, lambda: settle(self.engine, row.token_sha256, {
                "status": "withdrawn", "done_at": now}, audit=("invitation.email_failed", "no longer usable")))
            return
        email = message(self.settings, to=found.to_address, member_name=found.name, organisation=found.organisation,
                        link=found.link, expires_at=found.expires_at)
        try:
            await loop.run_in_executor(None, send_email, self.settings, email)
        except (OSError, smtplib.SMTPException) as error:
            attempts = row.attempts + 1
            later = next_try(attempts, now)
            if later is not None and later >= found.expires_at:
                later = None
            log.warning("emailing an invitation failed (%s); %s", type(error).__name__,
                        f"trying again at {later:%H:%M:%S}" if later else "giving up")
            values = {"attempts": attempts, **({"next_try_at": later} if later else {"status": "failed",
                                                                                      "done_at": now})}
            audit = None if later else ("invitation.email_failed", "the mail server did not take it")
            await loop.run_in_executor(None, lambda: settle(self.engine, row.token_sha256, values, audit=audit))
            return
        await loop.run_in_executor(None, lambda: settle(self.engine, row.token_sha256, {
            "status": "sent", "attempts": row.attempts + 1, "done_at": now}, audit=("invitation.emailed", None)))
