"""The duty to refer (Homelessness Reduction Act 2017, s.213B): a public body that thinks a person
may be homeless or threatened with homelessness within 56 days refers them, with their consent,
to the housing authority of their choice. Here a risk report made with consent becomes that
referral as it passes identity. Pure: the caller passes the settings' values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from journey.reports import ANY_AREA
from schemas.events import (
    RISK_FACTOR_CATEGORY,
    Event,
    ReferralDetails,
    ReferralRecorded,
    RiskReported,
    RiskUrgency,
)
from schemas.ids import duty_to_refer_id
from schemas.sharing import Category


class PreventionSettings(Protocol):
    """What the duty to refer needs of the settings (schemas/settings.py)."""

    housing_authorities: Mapping[str, str]
    duty_to_refer_days: int


@dataclass(frozen=True, slots=True)
class DutyToRefer:
    """Where referrals go when the person named no housing authority (the housing options team
    for the report's area, like outreach routing; "*" for any other area), and how long the
    housing team has to accept one."""

    housing_authorities: Mapping[str, str] = field(default_factory=lambda: {ANY_AREA: "town-council"})
    days: int = 14

    @classmethod
    def configured(cls, settings: PreventionSettings) -> DutyToRefer:
        return cls(settings.housing_authorities, settings.duty_to_refer_days)

    def authority_for(self, area_code: str | None) -> str:
        return self.housing_authorities.get(area_code or ANY_AREA) or self.housing_authorities.get(ANY_AREA, "")


# What the person agrees the housing authority may see when they agree to be referred: who they
# are, how to reach them, and the signs seen (each factor's own category).
_SHARED = (Category.CORE, Category.CONTACT_DETAILS)


def referred(event: Event, duty: DutyToRefer) -> list[ReferralRecorded]:
    """The referral a risk report with consent becomes; none without consent. Its id comes from
    the report's, so a redelivered report refers once; the referrer is the reporting
    organisation, as the Act makes the referring body the one that saw the person."""
    if not isinstance(event, RiskReported) or not event.data.consent_to_refer:
        return []
    details = event.data
    factors = event.personal.factors
    categories = {*_SHARED, *(RISK_FACTOR_CATEGORY[f] for f in factors)}
    now = details.urgency is RiskUrgency.HOMELESS_NOW
    soon = "homeless now" if now else "threatened with homelessness within 56 days"
    return [ReferralRecorded(
        id=duty_to_refer_id(event.id), type="referral.made", source=event.source, actor=event.actor,
        subject=event.subject, time=event.time, recorded_at=event.recorded_at,
        data=ReferralDetails(
            to_organisation=details.housing_authority or duty.authority_for(details.area_code),
            reason=f"Duty to refer: {soon}",
            categories=tuple(c for c in Category if c in categories),
            consent_obtained=details.consent_obtained,
            expires_at=event.time + timedelta(days=duty.days),
        ),
    )]
