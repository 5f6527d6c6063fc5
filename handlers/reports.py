"""Sighting reports on the journey: someone was seen and reported, then outreach went to look."""

from __future__ import annotations

from handlers.prevention import leaves_at_risk
from journey.state import Journey, seen
from schemas.events import ReportProgressed, ReportReceived
from schemas.progress import OpenReport, Stage


def report_received(journey: Journey, event: ReportReceived) -> tuple[Journey, str]:
    details = event.data
    report = OpenReport(report_id=event.id, received_at=event.time, area_code=details.area_code)
    changed = journey.model_copy(
        update={
            **seen(journey, event.time),
            "reports": journey.reports + 1,
            # Seen sleeping rough: no longer only at risk.
            "stage": leaves_at_risk(journey.stage, Stage.REPORTED),
            "last_area": details.area_code or journey.last_area,
            "open_reports": (*journey.open_reports, report),
        }
    )
    where = f" in {details.area_code}" if details.area_code else ""
    urgent = " (emergency)" if details.emergency else ""
    return changed, f"Reported by {details.channel.value}{where}{urgent}"


def report_progressed(journey: Journey, event: ReportProgressed) -> tuple[Journey, str]:
    """Routing, an attempt, the outcome, the reporter told. A step about a report this journey
    no longer holds open (its outcome came first) is still on the timeline."""
    details = event.data
    kept: list[OpenReport] = []
    for report in journey.open_reports:
        if report.report_id != details.report_id:
            kept.append(report)
        elif event.type == "report.routed":
            kept.append(report.model_copy(update={"team": details.team, "due_by": details.due_by}))
        elif event.type == "report.attempted":
            first = event.time if report.attempted_at is None else min(report.attempted_at, event.time)
            kept.append(report.model_copy(update={"attempted_at": first}))
        elif event.type != "report.outcome":
            kept.append(report)
    changed = journey.model_copy(update={"open_reports": tuple(kept)})
    if event.type == "report.routed":
        due = f", first attempt due by {details.due_by:%Y-%m-%d %H:%M}" if details.due_by else ""
        said = f"Report routed to {details.team}{due}"
    elif event.type == "report.attempted":
        said = f"{details.team or 'Outreach'} went to look for the reported person"
    elif event.type == "report.outcome":
        outcome = details.outcome.value.replace("_", " ") if details.outcome else "recorded"
        said = f"Report outcome: {outcome}"
    else:
        said = "Reporter told the outcome"
    return changed, said
