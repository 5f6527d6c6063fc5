"""Reading sighting reports: their status for the reporter, the overdue list, and a team's open reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, func, select

from journey.reports import is_overdue
from readmodel.tables import sighting_reports
from schemas.submissions import ReportStatus


def find_report(engine: Engine, report_id: UUID) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            select(sighting_reports).where(sighting_reports.c.report_id == str(report_id))
        ).first()


def report_status(row: Any, *, now: datetime) -> ReportStatus:
    if row.outcome:
        status = "closed"
    elif row.first_attempt_at:
        status = "attempted"
    elif row.team:
        status = "routed"
    else:
        status = "received"
    return ReportStatus(
        report_id=UUID(row.report_id), status=status, received_at=row.received_at, area_code=row.area_code,
        team=row.team, due_by=row.due_by,
        overdue=is_overdue(row.due_by, row.first_attempt_at, row.outcome_at, now),
        first_attempt_at=row.first_attempt_at, outcome=row.outcome, outcome_at=row.outcome_at,
        wants_update=bool(row.wants_update), reporter_told_at=row.reporter_told_at,
    )


def _overdue(now: datetime) -> tuple[Any, ...]:
    # journey.reports.is_overdue for a report nobody has attempted or closed: its time passed.
    table = sighting_reports.c
    return table.first_attempt_at.is_(None), table.outcome_at.is_(None), table.due_by < now


def overdue_reports(engine: Engine, *, now: datetime) -> list[ReportStatus]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(sighting_reports).where(*_overdue(now)).order_by(sighting_reports.c.due_by)).all()
    return [report_status(row, now=now) for row in rows]


def count_overdue(engine: Engine, *, now: datetime) -> int:
    """How many reports are overdue (the board's figure: counted by the database)."""
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(sighting_reports).where(*_overdue(now))).scalar_one()


def open_reports(engine: Engine, *, team: str, now: datetime, limit: int = 100) -> list[ReportStatus]:
    """A team's reports with no outcome yet: the overdue first, then by due time.

    An attempt takes a report off the overdue list but not off the team's hands: it still
    needs an outcome, so the phone keeps showing it until one is recorded.
    """
    table = sighting_reports.c
    with engine.connect() as connection:
        rows = connection.execute(
            select(sighting_reports)
            .where(table.team == team, table.outcome_at.is_(None))
            .order_by(table.first_attempt_at.is_not(None), table.due_by)
            .limit(limit)
        ).all()
    return [report_status(row, now=now) for row in rows]
