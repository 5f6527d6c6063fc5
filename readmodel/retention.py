"""Storage limitation: what the read model keeps, and for how long (UK GDPR art. 5(1)(e)). The
schedule is in the settings (RETENTION_*), written for a data protection officer in
docs/sharing-policy.md; the worker applies it on a timer and `journeys retention` once. Each run
says what it removed, as counts only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine, delete, func, or_, select

from readmodel.erasure import erase_closed_cases, forget_reporters
from readmodel.tables import (
    audit_entries,
    audit_relayed,
    deliveries,
    delivery_attempts,
    invitation_emails,
    invitations,
    page_sessions,
    sighting_reports,
    submissions,
)


class RetentionSettings(Protocol):
    retention_reporter_days: int
    retention_sessions_days: int
    retention_idempotency_days: int
    retention_deliveries_days: int
    retention_audit_days: int
    retention_closed_case_days: int


@dataclass(frozen=True, slots=True)
class Schedule:
    """How long each class of data is kept, in days."""

    reporter: int = 30
    sessions: int = 30
    idempotency: int = 30
    deliveries: int = 90
    audit: int = 2_192  # six years
    closed_case: int = 2_192

    @classmethod
    def configured(cls, settings: RetentionSettings) -> Schedule:
        return cls(settings.retention_reporter_days, settings.retention_sessions_days,
                   settings.retention_idempotency_days, settings.retention_deliveries_days,
                   settings.retention_audit_days, settings.retention_closed_case_days)


def apply_retention(engine: Engine, schedule: Schedule, now: datetime) -> dict[str, int]:
    """Remove what the schedule no longer allows; return how many of each were removed."""
    removed: dict[str, int] = {}
    with engine.begin() as connection:
        # A reporter's contact details: once they were told the outcome, or after the schedule's
        # days whether or not they asked to be told.
        # (Asked as a subquery: at a city's scale the reports are too many to list in a statement.)
        told_or_old = select(sighting_reports.c.report_id).where(
            sighting_reports.c.reporter_forgotten_at.is_(None),
            or_(sighting_reports.c.reporter_told_at.is_not(None),
                sighting_reports.c.received_at < now - timedelta(days=schedule.reporter)))
        removed["reporters_contact_details"] = forget_reporters(connection, told_or_old, now)
        removed["page_sessions"] = connection.execute(delete(page_sessions).where(
            func.coalesce(page_sessions.c.ended_at, page_sessions.c.expires_at)
            < now - timedelta(days=schedule.sessions))).rowcount
        # Invitations used, withdrawn or expired, after the sessions' days (the account audit keeps
        # that one was sent).
        spent = (func.coalesce(invitations.c.used_at, invitations.c.withdrawn_at, invitations.c.expires_at)
                 < now - timedelta(days=schedule.sessions))
        connection.execute(delete(invitation_emails).where(  # an emailed one's outcome goes with it
            invitation_emails.c.token_sha256.in_(select(invitations.c.token_sha256).where(spent))))
        removed["invitations"] = connection.execute(delete(invitations).where(spent)).rowcount
        idempotency_cutoff = now - timedelta(days=schedule.idempotency)
        removed["idempotency_records"] = connection.execute(delete(submissions).where(
            submissions.c.produced == 1, submissions.c.created_at < idempotency_cutoff)).rowcount
        done = (deliveries.c.status != "pending", deliveries.c.created_at < now - timedelta(days=schedule.deliveries))
        removed["delivery_attempts"] = connection.execute(delete(delivery_attempts).where(
            delivery_attempts.c.delivery_id.in_(select(deliveries.c.delivery_id).where(*done)))).rowcount
        removed["deliveries"] = connection.execute(delete(deliveries).where(*done)).rowcount
        # Audit entries, once relayed to the audit topic (never one the relay has not sent).
        relayed = connection.execute(select(func.min(audit_relayed.c.entry_id))).scalar()
        removed["audit_entries"] = connection.execute(delete(audit_entries).where(
            audit_entries.c.at < now - timedelta(days=schedule.audit),
            audit_entries.c.entry_id <= (relayed if relayed is not None else -1))).rowcount
    # A closed case's personal data, erased as a data protection lead's erasure is (each in its
    # own transaction: the keys destroyed, the parts emptied, the erasure recorded).
    removed["closed_cases_erased"] = erase_closed_cases(engine, now - timedelta(days=schedule.closed_case), now)
    return removed
