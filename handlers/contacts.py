"""Outreach contacts on the journey: a worker met the person."""

from __future__ import annotations

from datetime import tzinfo

from journey.nights import night_of
from journey.state import HOUSED, Journey, seen, with_night
from schemas.events import ContactRecorded
from schemas.progress import Stage


def stage_after_contact(stage: Stage, *, engaged: bool, bedded_down: bool) -> Stage:
    """Contacts move a person forward from the first stages; seen bedded down after being
    housed is a return to the street. Other stages are changed only by their own events."""
    if bedded_down and stage in HOUSED:
        return Stage.RETURNED_TO_STREET
    if stage in (Stage.AT_RISK, Stage.REPORTED, Stage.CONTACTED):
        return Stage.ENGAGED if engaged else Stage.CONTACTED
    if stage is Stage.RECONNECTED and bedded_down:
        return Stage.RETURNED_TO_STREET
    return stage


def contact_recorded(journey: Journey, event: ContactRecorded, *, zone: tzinfo) -> tuple[Journey, str]:
    details = event.data
    nights = journey.rough_sleeping_nights
    if details.bedded_down:
        nights = with_night(nights, night_of(event.time, zone))
    last_contact = event.time if journey.last_contact is None else max(journey.last_contact, event.time)
    changed = journey.model_copy(
        update={
            **seen(journey, event.time),
            "stage": stage_after_contact(journey.stage, engaged=details.engaged, bedded_down=details.bedded_down),
            # An outreach worker has now met the person: they are no longer only a description.
            "provisional": False,
            "contacts": journey.contacts + 1,
            "last_contact": last_contact,
            "rough_sleeping_nights": nights,
            "last_area": details.area_code or journey.last_area,
        }
    )
    what = "engaged" if details.engaged else "did not engage"
    bedded = ", seen bedded down" if details.bedded_down else ""
    accepted = f", accepted {', '.join(o.value for o in details.accepted)}" if details.accepted else ""
    return changed, f"Contact by {details.team}: {what}{bedded}{accepted}"
