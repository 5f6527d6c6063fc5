"""Risk of homelessness on the journey: frontline staff saw the signs ("eyes and ears")."""

from __future__ import annotations

from journey.state import Journey, seen
from schemas.events import RiskReported
from schemas.progress import Stage


def risk_reported(journey: Journey, event: RiskReported) -> tuple[Journey, str]:
    """A risk report about a record nobody else knows, made without the person's consent to be
    referred, stays with the reporting organisation: the record is held by it, and the policy
    shows it to nobody else. With consent, the duty to refer makes a referral of it (identify
    sends it, journey/prevention.py)."""
    details = event.data
    new_record = journey.sequence == 0
    held_by = journey.held_by
    if new_record and not details.consent_to_refer:
        held_by = event.source
    elif details.consent_to_refer and held_by == event.source:
        held_by = None  # the person agreed after all: the duty to refer takes it on
    changed = journey.model_copy(update={
        **seen(journey, event.time),
        "last_area": details.area_code or journey.last_area,
        "held_by": held_by,
    })
    soon = "homeless now" if details.urgency.value == "homeless_now" else "at risk within 56 days"
    referred = ", referred with consent" if details.consent_to_refer else ", not referred (no consent)"
    return changed, f"At risk of homelessness reported by {event.source}: {soon}{referred}"


def leaves_at_risk(stage: Stage, then: Stage) -> Stage:
    """A person known only as at risk takes the stage a later event gives (seen sleeping rough,
    met by outreach); other stages are changed only by their own events."""
    return then if stage is Stage.AT_RISK else stage
