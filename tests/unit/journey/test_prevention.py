"""Eyes and ears as pure logic: the duty to refer made of a risk report with consent, a report
without consent held by its organisation, and each risk factor shown only where its category is."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

import handlers
from journey.policy import Viewer, access, visible
from journey.prevention import DutyToRefer, referred
from schemas.events import RISK_FACTOR_CATEGORY, RiskDetails, RiskFactor, RiskPersonal, RiskReported
from schemas.ids import duty_to_refer_id, provisional_person_id
from schemas.sharing import Category, OrganisationType
from tests.unit.journey.test_journey_families import LONDON

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DUTY = DutyToRefer(housing_authorities={"*": "town-council", "TC-NORTH": "north-housing"}, days=14)


def risk(consent: bool, factors: tuple[RiskFactor, ...] = (RiskFactor.RENT_ARREARS,), *,
         authority: str | None = None, source: str = "job-centre") -> RiskReported:
    event_id = uuid.uuid4()
    return RiskReported(
        id=event_id, source=source, actor="m1", subject=provisional_person_id(event_id), time=AT, recorded_at=AT,
        data=RiskDetails(urgency="within_56_days", consent_to_refer=consent,
                         consent_obtained="verbal" if consent else None, housing_authority=authority),
        personal=RiskPersonal(known_as="Dee", factors=factors))


def test_a_risk_report_with_consent_becomes_one_referral_to_the_chosen_or_the_areas_housing_authority() -> None:
    report = risk(True, (RiskFactor.NOTICE_TO_QUIT, RiskFactor.LEAVING_HOSPITAL))
    [made] = referred(report, DUTY)
    assert made.id == duty_to_refer_id(report.id) and referred(report, DUTY)[0].id == made.id  # once
    assert (made.type, made.source, made.subject) == ("referral.made", "job-centre", report.subject)
    assert made.data.to_organisation == "town-council"
    assert set(made.data.categories) == {"core", "contact_details", "health"}  # the hospital stay is health
    assert made.data.expires_at == AT + timedelta(days=14)
    assert referred(risk(True, authority="next-borough"), DUTY)[0].data.to_organisation == "next-borough"
    north = risk(True).model_copy(update={"data": risk(True).data.model_copy(update={"area_code": "TC-NORTH"})})
    assert referred(north, DUTY)[0].data.to_organisation == "north-housing"  # the area's team
    assert referred(risk(False), DUTY) == []


def test_without_consent_the_new_record_is_held_by_the_reporter_and_nobody_else_sees_it() -> None:
    report = risk(False)
    journey = handlers.apply(None, report, LONDON).journey
    assert journey.held_by == "job-centre" and journey.stage == "at_risk"
    for kind in (OrganisationType.COUNCIL, OrganisationType.OUTREACH, OrganisationType.CHARITY):
        seen = access(Viewer("m", "town-council", kind), journey, AT, break_glass=True)
        assert seen.categories == frozenset(), kind
    with_consent = handlers.apply(None, risk(True), LONDON).journey
    assert with_consent.held_by is None
    assert Category.CORE in access(Viewer("m", "town-council", OrganisationType.COUNCIL), with_consent, AT).categories


@given(st.lists(st.sampled_from(list(RiskFactor)), unique=True),
       st.sets(st.sampled_from(list(Category))))
def test_each_factor_is_shown_only_where_its_own_category_is(factors: list[RiskFactor], allowed: set[Category]) -> None:
    shown = visible({"factors": factors, "known_as": "Dee"}, RiskPersonal, frozenset(allowed))
    expected = [f for f in factors if RISK_FACTOR_CATEGORY[f] in allowed]
    if allowed & set(RISK_FACTOR_CATEGORY.values()):
        assert shown["factors"] == expected
    else:
        assert "factors" not in shown
    assert ("known_as" in shown) == (Category.CORE in allowed)


def test_the_prevention_figures_count_reports_referrals_duties_outcomes_and_who_was_later_seen_rough() -> None:
    from datetime import date

    from journey.statistics import Fact, Rules, prevention

    rules = Rules(zone=LONDON)
    t = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    facts = [
        Fact("dee", "risk.reported", t, {"consent_to_refer": True, "factors": ["notice_to_quit", "loss_of_income"],
                                         "source": "job-centre"}, "r1"),
        Fact("dee", "referral.made", t, {"reason": "Duty to refer: threatened with homelessness within 56 days"},
             "m1"),
        Fact("dee", "referral.accepted", t + timedelta(hours=6), {"referral": "m1"}, "a1"),
        Fact("dee", "duty.prevention_started", t + timedelta(days=1), {}, "d1"),
        Fact("dee", "duty.prevention_ended", t + timedelta(days=20), {"outcome": "accommodation_secured"}, "d2"),
        Fact("sam", "risk.reported", t, {"consent_to_refer": False, "factors": ["notice_to_quit"],
                                         "source": "hospital"}, "r2"),
        Fact("sam", "contact.recorded", t + timedelta(days=9), {"bedded_down": True}, "c1"),
        Fact("kim", "risk.reported", t, {"consent_to_refer": False, "factors": ["sofa_surfing"],
                                         "source": "hospital"}, "r3"),
        Fact("kim", "contact.recorded", t + timedelta(days=9), {"bedded_down": False}, "c2"),  # met, not rough
        # Outside the period: counted nowhere.
        Fact("old", "risk.reported", t - timedelta(days=60), {"consent_to_refer": True, "factors": ["rent_arrears"],
                                                              "source": "job-centre"}, "r0"),
    ]
    figures = prevention(facts, date(2026, 11, 1), date(2026, 12, 1), rules)
    assert figures == {
        "risk_reports": 3, "referred_with_consent": 1, "referrals_accepted": 1,
        "hours_report_to_acceptance_median": 6.0, "prevention_duties_started": 1, "prevention_duties_ended": 1,
        "accommodation_secured": 1, "later_seen_sleeping_rough": 1,
        "by_factor": {"loss_of_income": 1, "notice_to_quit": 2, "sofa_surfing": 1},
        "by_referring_organisation": {"hospital": 2, "job-centre": 1},
    }
