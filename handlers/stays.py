"""Emergency beds on the journey: allocations, check-ins, no-shows and the nights spent in a bed."""

from __future__ import annotations

from journey.state import Journey, with_night
from schemas.events import BedOutcome
from schemas.progress import Stage

_SAID = {
    "bed.allocated": "Bed {bed} allocated",
    "bed.waitlisted": "On the waitlist (place {waitlist_position})",
    "bed.refused": "Bed request refused ({reason})",
    "bed.checked_in": "Checked into bed {bed}",
    "bed.no_show": "Did not arrive for bed {bed}; the bed was released",
    "bed.checked_out": "Checked out of bed {bed}",
    "bed.withdrawn": "Bed request withdrawn",
}


def bed_outcome(journey: Journey, event: BedOutcome) -> tuple[Journey, str]:
    details = event.data
    update: dict[str, object] = {}
    if event.type == "bed.checked_in":
        # A night in an emergency bed is counted once, however often the stay is corrected.
        update["emergency_bed_nights"] = with_night(journey.emergency_bed_nights, details.night)
        update["stage"] = Stage.EMERGENCY_ACCOMMODATION
        # Arriving at a bed is contact with services: it keeps the case active.
        update["last_contact"] = event.time if journey.last_contact is None else max(journey.last_contact, event.time)
    said = _SAID[event.type].format(**details.model_dump())
    left = f" ({details.leave_reason.value.replace('_', ' ')})" if details.leave_reason else ""
    where = f"{details.provider_id}, {details.bed_type.value.replace('_', ' ')} bed, night of {details.night}"
    return journey.model_copy(update=update), f"{said}{left}: {where}"
