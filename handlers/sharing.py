"""Who works with the person, and what they agreed to share: derived from the events in the
stream, so every read path sees the same relationships and consents."""

from __future__ import annotations

from journey.state import Consent, Journey, Relationship
from schemas.events import (
    AccommodationRecorded,
    BedOutcome,
    CaseRecorded,
    ConsentRecorded,
    ContactRecorded,
    DutyRecorded,
    Event,
    WorkRecorded,
)

# The families whose recording organisation works with the person (reports do not: a member of
# the public or a passing officer does not work with the person they saw).
_RELATING: dict[type, str] = {
    ContactRecorded: "contact", CaseRecorded: "case", BedOutcome: "bed", AccommodationRecorded: "accommodation",
    WorkRecorded: "work", DutyRecorded: "duty", ConsentRecorded: "consent",
}


def _related(relationships: tuple[Relationship, ...], organisation: str, event: Event,
             reason: str) -> tuple[Relationship, ...]:
    if any(r.organisation == organisation and r.ended_at is None for r in relationships):
        return relationships
    return (*relationships, Relationship(organisation=organisation, since=event.time, reason=reason))


def relate(journey: Journey, event: Event) -> Journey:
    """The journey's relationships after this event: begun by the recording organisation (and
    by the key worker's), all ended when the case closes."""
    relationships = journey.relationships
    if isinstance(event, CaseRecorded) and event.type == "case.closed":
        relationships = tuple(r if r.ended_at else r.model_copy(update={"ended_at": event.time})
                              for r in relationships)
    else:
        reason = _RELATING.get(type(event))
        if reason is not None:
            relationships = _related(relationships, event.source, event, reason)
        if isinstance(event, CaseRecorded) and event.type == "case.key_worker_assigned" and event.data.organisation:
            relationships = _related(relationships, event.data.organisation, event, "key_worker")
    if relationships is journey.relationships:
        return journey
    return journey.model_copy(update={"relationships": relationships})


def consent_recorded(journey: Journey, event: ConsentRecorded) -> tuple[Journey, str]:
    details = event.data
    if event.type == "consent.given":
        consent = Consent(
            consent_id=event.id, recorded_by=event.source, given_at=event.time,
            organisations=details.organisations, organisation_types=tuple(t.value for t in details.organisation_types),
            categories=tuple(c.value for c in details.categories), until=details.until,
        )
        kept = tuple(c for c in journey.consents if c.consent_id != event.id)
        return journey.model_copy(update={"consents": (*kept, consent)}), (
            f"Consent given: {', '.join(consent.categories) or 'nothing'} "
            f"to {', '.join((*consent.organisations, *consent.organisation_types)) or 'no one'}")
    if details.consent is None:
        return journey.model_copy(update={"consents": ()}), "Consent withdrawn: all"
    kept = tuple(c for c in journey.consents if c.consent_id != details.consent)
    return journey.model_copy(update={"consents": kept}), "Consent withdrawn"
