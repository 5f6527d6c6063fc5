"""Outreach contacts on the journey: a worker met the person."""

from __future__ import annotations

from journey.state import Journey, Stage, night_of, seen, with_night
from schemas.events import ContactRecorded

# Stages only move forward through contacts: a later contact that did not engage does not
# undo an engagement (returns to the street are their own events).
_STAGE_ORDER = {Stage.REPORTED: 0, Stage.CONTACTED: 1, Stage.ENGAGED: 2, Stage.EMERGENCY_ACCOMMODATION: 3}


def contact_recorded(journey: Journey, event: ContactRecorded) -> tuple[Journey, str]:
    details = event.data
    reached = Stage.ENGAGED if details.engaged else Stage.CONTACTED
    stage = max(journey.stage, reached, key=_STAGE_ORDER.__getitem__)
    nights = journey.rough_sleeping_nights
    if details.bedded_down:
        nights = with_night(nights, night_of(event.time))
    changed = journey.model_copy(
        update={
            **seen(journey, event.time),
            "stage": stage,
            "contacts": journey.contacts + 1,
            "rough_sleeping_nights": nights,
            "last_area": details.area_code or journey.last_area,
        }
    )
    what = "engaged" if details.engaged else "did not engage"
    bedded = ", seen bedded down" if details.bedded_down else ""
    accepted = f", accepted {', '.join(o.value for o in details.accepted)}" if details.accepted else ""
    return changed, f"Contact by {details.team}: {what}{bedded}{accepted}"
