"""Accommodation, training and work, statutory duties and the case, on the journey.

Each of these families records a step that partners take with the person; the step moves the
stage (accommodation), a strand beside it (training, work), the open duty, or the case.
"""

from __future__ import annotations

from journey.state import Journey
from schemas.events import AccommodationRecorded, CaseRecorded, DutyRecorded, WorkRecorded
from schemas.progress import Stage

_STAGE_AFTER = {
    "supported_housing_entered": Stage.SUPPORTED_ACCOMMODATION,
    "tenancy_started": Stage.TENANCY,
    # Losing a tenancy or a place leaves the person known and worked with, but not housed;
    # only being seen bedded down again makes it a return to the street.
    "evicted": Stage.ENGAGED,
    "abandoned": Stage.ENGAGED,
    "reconnected": Stage.RECONNECTED,
}


def _step(event_type: str) -> str:
    return event_type.split(".", 1)[1]


def _words(step: str) -> str:
    return step.replace("_", " ")


def accommodation_recorded(journey: Journey, event: AccommodationRecorded) -> tuple[Journey, str]:
    step, details = _step(event.type), event.data
    changed = journey.model_copy(
        update={"accommodation": step, "stage": _STAGE_AFTER.get(step, journey.stage)}
    )
    at = f" with {details.provider}" if details.provider else ""
    to = f" to {details.to_area}" if details.to_area else ""
    return changed, f"Accommodation: {_words(step)}{at}{to}"


_TRAINING = {"course_enrolled": "on_course", "session_attended": "on_course", "course_completed": "completed",
             "course_left": "left_course"}
_WORK = {"job_started": "in_work", "job_sustained_13_weeks": "sustained_13_weeks",
         "job_sustained_26_weeks": "sustained_26_weeks", "job_left": "left_job"}


def work_recorded(journey: Journey, event: WorkRecorded) -> tuple[Journey, str]:
    step = _step(event.type)
    if step in _TRAINING:
        changed = journey.model_copy(update={"training": _TRAINING[step]})
    else:
        changed = journey.model_copy(update={"work": _WORK[step]})
    return changed, f"{_words(step).capitalize()}: {event.data.programme}"


def duty_recorded(journey: Journey, event: DutyRecorded) -> tuple[Journey, str]:
    step, details = _step(event.type), event.data
    duty, _, phase = step.partition("_")
    if phase == "started":
        changed = journey.model_copy(update={"duty": duty})
        return changed, f"{duty.capitalize()} duty started by {details.local_authority}"
    outcome = details.outcome.value if details.outcome else "other"
    changed = journey.model_copy(
        update={"duty": None if journey.duty == duty else journey.duty,
                "duty_outcomes": (*journey.duty_outcomes, f"{duty}:{outcome}")}
    )
    return changed, f"{duty.capitalize()} duty ended: {_words(outcome)}"


def case_recorded(journey: Journey, event: CaseRecorded) -> tuple[Journey, str]:
    step, details, case = _step(event.type), event.data, journey.case
    if step == "key_worker_assigned":
        case = case.model_copy(update={"key_worker": details.key_worker,
                                       "key_worker_organisation": details.organisation or event.source})
        said = f"Key worker {details.key_worker} assigned ({details.organisation or event.source})"
    elif step == "strengths_recorded":
        case = case.model_copy(update={"strengths_recorded_at": event.time})
        said = "Strengths and goals recorded"
    elif step == "closed":
        reason = details.close_reason.value if details.close_reason else "other"
        case = case.model_copy(update={"closed_at": event.time, "close_reason": reason})
        said = f"Case closed: {_words(reason)}"
    elif step == "walked_in":
        said = f"Walked in to {event.source}: a new record until outreach or the council links it"
    else:
        case = case.model_copy(update={"closed_at": None, "close_reason": None})
        said = "Case reopened"
    return journey.model_copy(update={"case": case}), said
