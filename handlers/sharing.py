"""Who works with the person, and what they agreed to share: derived from the events in the
stream, so every read path sees the same relationships and consents."""

from __future__ import annotations

from journey.state import Consent, Journey, Referral, Relationship, referral_status
from schemas.events import (
    AccommodationRecorded,
    BedOutcome,
    CaseRecorded,
    ConsentRecorded,
    ContactRecorded,
    DutyRecorded,
    Event,
    ReferralRecorded,
    WorkRecorded,
)

# The families whose recording organisation works with the person (reports do not: a member of
# the public or a passing officer does not work with the person they saw). The API lets only an
# organisation that may already see the person write them. Consent begins nothing: recording
# that a person agreed to share with you must never be how you come to see them.
_RELATING: dict[type, str] = {
    ContactRecorded: "contact", CaseRecorded: "case", BedOutcome: "bed", AccommodationRecorded: "accommodation",
    WorkRecorded: "work", DutyRecorded: "duty",
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
        if isinstance(event, ReferralRecorded) and event.type == "referral.accepted" and any(
                r.referral_id == event.data.referral and r.status == "accepted" for r in journey.referrals):
            # Only an acceptance the referral handler took (by the receiver, in time) begins it.
            relationships = _related(relationships, event.source, event, "referral")
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


def referral_recorded(journey: Journey, event: ReferralRecorded) -> tuple[Journey, str]:
    """A referral made (with the consent the person gave to share with the receiver), or its
    answer. An answer that does not fit (not the receiver, not open, too late) changes nothing:
    the API refuses those, and a replay must give the same journey."""
    details = event.data
    if event.type == "referral.made":
        receiver = details.to_organisation or ""
        referral = Referral(referral_id=event.id, from_organisation=event.source, to_organisation=receiver,
                            made_at=event.time, reason=details.reason, expires_at=details.expires_at,
                            categories=tuple(c.value for c in details.categories))
        consent = Consent(consent_id=event.id, recorded_by=event.source, given_at=event.time,
                          organisations=(receiver,), categories=referral.categories)
        return journey.model_copy(update={
            "referrals": (*(r for r in journey.referrals if r.referral_id != event.id), referral),
            "consents": (*(c for c in journey.consents if c.consent_id != event.id), consent),
        }), f"Referred by {event.source} to {receiver}"
    answer = event.type.removeprefix("referral.")
    open_one = next((r for r in journey.referrals if r.referral_id == details.referral), None)
    if open_one is None:
        return journey, f"Referral {answer}: no open referral, nothing changed"
    # The timer's expiry needs the referral still open; an answer needs it open when it was given.
    if (open_one.status if answer == "expired" else referral_status(open_one, event.time)) != "open":
        return journey, f"Referral {answer}: no open referral, nothing changed"
    answering = open_one.from_organisation if answer == "withdrawn" else open_one.to_organisation
    if answer != "expired" and event.source != answering:
        return journey, f"Referral {answer} by {event.source}: not theirs to answer, nothing changed"
    answered = open_one.model_copy(update={
        "status": answer, "answered_at": event.time,
        "decline_reason": details.decline_reason.value if details.decline_reason else None})
    changes: dict[str, object] = {
        "referrals": tuple(answered if r.referral_id == open_one.referral_id else r for r in journey.referrals)}
    # What the person agreed to share went with the referral: it lapses with it. At the timer's
    # expiry it lapses from then (`until`), so an acceptance given in time and recorded late finds
    # it again, unless the person has withdrawn it since.
    if answer == "expired":
        changes["consents"] = tuple(c.model_copy(update={"until": open_one.expires_at})
                                    if c.consent_id == open_one.referral_id else c for c in journey.consents)
    elif answer == "accepted":
        changes["consents"] = tuple(c.model_copy(update={"until": None})
                                    if c.consent_id == open_one.referral_id else c for c in journey.consents)
    else:
        changes["consents"] = tuple(c for c in journey.consents if c.consent_id != open_one.referral_id)
    summary = f"Referral to {open_one.to_organisation} {answer}"
    if answered.decline_reason:
        summary += f" ({answered.decline_reason})"
    return journey.model_copy(update=changes), summary
