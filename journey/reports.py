"""Where a sighting report goes and when it is overdue. Pure: the caller passes the time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from schemas.events import Event, ReportProgress, ReportProgressed, ReportReceived
from schemas.ids import routed_id

# The key that stands for "any area not named": routing and targets fall back to it.
ANY_AREA = "*"

# What outreach found, as a reporter reads it (their email, the public status page, Open311): about
# the visit, never about the person.
OUTCOME_WORDS = {
    "found_and_engaged": "The outreach team found the person and offered them help.",
    "already_known": "The person is already known to the outreach team, who are working with them.",
    "not_found": "The outreach team went to look but could not find the person.",
    "no_longer_there": "The outreach team went to look; the person had moved on.",
    "not_sleeping_rough": "The outreach team went to look and found the person was not sleeping rough.",
}


class RoutingSettings(Protocol):
    """What routing needs of the settings (schemas/settings.py): the domain never reads them."""

    outreach_teams: Mapping[str, str]
    report_response_hours: Mapping[str, float]


@dataclass(frozen=True)
class Routing:
    """The outreach team for each area, and each area's target time to the first attempt."""

    teams: Mapping[str, str] = field(default_factory=lambda: {ANY_AREA: "Outreach"})
    response_hours: Mapping[str, float] = field(default_factory=lambda: {ANY_AREA: 24.0})

    @classmethod
    def configured(cls, settings: RoutingSettings) -> Routing:
        """The routing the operator configured (OUTREACH_TEAMS, REPORT_RESPONSE_HOURS)."""
        return cls(teams=settings.outreach_teams, response_hours=settings.report_response_hours)

    def team_for(self, area_code: str | None) -> str:
        return self.teams.get(area_code or ANY_AREA) or self.teams.get(ANY_AREA, "Outreach")

    def target_for(self, area_code: str | None) -> timedelta:
        hours = self.response_hours.get(area_code or ANY_AREA, self.response_hours.get(ANY_AREA, 24.0))
        return timedelta(hours=hours)

    def due_by(self, area_code: str | None, received_at: datetime) -> datetime:
        return received_at + self.target_for(area_code)


def routed(event: Event, routing: Routing) -> list[ReportProgressed]:
    """A report is routed to its area's outreach team as it passes identity. The routing's id
    comes from the report's, so a redelivered report is routed once."""
    if not isinstance(event, ReportReceived):
        return []
    area = event.data.area_code
    return [ReportProgressed(
        id=routed_id(event.id), type="report.routed", source="journeys", actor="router",
        subject=event.subject, time=event.time, recorded_at=event.recorded_at,
        data=ReportProgress(report_id=event.id, team=routing.team_for(area), area_code=area,
                            due_by=routing.due_by(area, event.time)),
    )]


def is_overdue(due_by: datetime | None, first_attempt_at: datetime | None, outcome_at: datetime | None,
               now: datetime) -> bool:
    """Overdue: the target time passed with no attempt and no outcome before it."""
    if due_by is None:
        return False
    reached = [t for t in (first_attempt_at, outcome_at) if t is not None]
    if reached:
        return min(reached) > due_by
    return now > due_by
