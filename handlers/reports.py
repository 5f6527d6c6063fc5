"""Sighting reports on the journey: someone was seen and reported."""

from __future__ import annotations

from journey.state import Journey, seen
from schemas.events import ReportReceived


def report_received(journey: Journey, event: ReportReceived) -> tuple[Journey, str]:
    details = event.data
    changed = journey.model_copy(
        update={
            **seen(journey, event.time),
            "reports": journey.reports + 1,
            "last_area": details.area_code or journey.last_area,
        }
    )
    where = f" in {details.area_code}" if details.area_code else ""
    urgent = " (emergency)" if details.emergency else ""
    return changed, f"Reported by {details.channel.value}{where}{urgent}"
