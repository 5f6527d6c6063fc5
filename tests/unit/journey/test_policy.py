"""The sharing policy: every field declares a category, and who sees which categories of whom."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from itertools import product
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

import handlers
from journey import policy
from journey.policy import BEFORE_CONSENT, CONSENT_CAN_ADD, Rule, Viewer, access, disclose_journey, safe_statistics
from journey.state import Journey, referral_status
from schemas.events import (
    ConsentDetails,
    ConsentRecorded,
    ContactPersonal,
    DeclineReason,
    Event,
    ReferralDetails,
    ReferralRecorded,
)
from schemas.sharing import SPECIAL, Category, OrganisationType, category_of
from schemas.views import JourneyView
from tests.events import T0, case, contact, report
from tests.unit.journey.test_journey_families import LONDON

PERSON = uuid.UUID("00000000-0000-4000-8000-000000000001")
T = OrganisationType
NOW = T0 + timedelta(days=1)


def _models_of_every_family() -> set[type[BaseModel]]:
    found: set[type[BaseModel]] = set()
    for family in get_args(get_args(Event)[0]):
        found.add(family.model_fields["data"].annotation)
        found.add(family.model_fields["personal"].annotation)
    return found


@pytest.mark.parametrize("model", sorted(_models_of_every_family(), key=lambda m: m.__name__))
def test_every_field_of_every_event_family_declares_its_category(model: type[BaseModel]) -> None:
    undeclared = [name for name in model.model_fields if category_of(model, name) is None]
    assert undeclared == [], f"{model.__name__} fields without a category: {undeclared}"


def test_every_field_of_the_journey_view_declares_its_category() -> None:
    undeclared = [n for n in JourneyView.model_fields if n != "person_id" and category_of(JourneyView, n) is None]
    assert undeclared == []


def by(organisation: str, event: Any) -> Any:
    return event.model_copy(update={"source": organisation})


def consent(organisation: str, *, to: tuple[str, ...] = (), types: tuple[OrganisationType, ...] = (),
            categories: tuple[Category, ...] = (), until: Any = None, withdrawn: uuid.UUID | None = None,
            what: str = "given") -> ConsentRecorded:
    return ConsentRecorded(
        id=uuid.uuid4(), type=f"consent.{what}", source=organisation, actor="m1", subject=PERSON, time=T0,
        recorded_at=T0, data=ConsentDetails(organisations=to, organisation_types=types, categories=categories,
                                            until=until, consent=withdrawn))


def fold(*events: Any) -> Journey:
    journey = None
    for event in events:
        journey = handlers.apply(journey, event, LONDON).journey
    assert journey is not None
    return journey


def viewer(organisation: str, kind: OrganisationType) -> Viewer:
    return Viewer(member="m", organisation=organisation, type=kind)


# ---------------------------------------------------------------- relationships from the events


def test_an_organisation_that_records_a_step_works_with_the_person_until_the_case_closes() -> None:
    journey = fold(by("town-outreach", contact(PERSON, T0)), by("the-brick", case(PERSON, T0, "strengths_recorded")))
    assert [(r.organisation, r.reason) for r in journey.relationships] == [
        ("town-outreach", "contact"), ("the-brick", "case")]
    closed = fold(by("town-outreach", contact(PERSON, T0)), by("council", case(PERSON, T0 + timedelta(1), "closed")))
    assert all(r.ended_at == T0 + timedelta(1) for r in closed.relationships)  # ended, kept for the audit
    assert access(viewer("town-outreach", T.OUTREACH), closed, NOW).rule is Rule.ROLE


def test_a_report_makes_no_relationship_and_the_key_workers_organisation_has_one() -> None:
    assert fold(by("police-north", report(PERSON, T0))).relationships == ()
    assigned = case(PERSON, T0, "key_worker_assigned")
    assigned = assigned.model_copy(update={"data": assigned.data.model_copy(update={"organisation": "the-brick"})})
    journey = fold(by("council", assigned))
    assert {r.organisation for r in journey.relationships} == {"council", "the-brick"}


# ---------------------------------------------------------------- the table, exhaustively


def _journey_for(related: bool, consented: tuple[Category, ...], organisation: str) -> Journey:
    events: list[Any] = [by("someone-else", report(PERSON, T0))]
    if related:
        events.append(by(organisation, contact(PERSON, T0)))
    if consented:
        events.append(consent("someone-else", to=(organisation,), categories=consented))
    return fold(*events)


@pytest.mark.parametrize(("kind", "related", "consented"), list(product(
    OrganisationType, (False, True), ((), (Category.HEALTH,), tuple(Category)))))
def test_the_access_matrix(kind: OrganisationType, related: bool, consented: tuple[Category, ...]) -> None:
    organisation = f"org-{kind.value}"
    decided = access(viewer(organisation, kind), _journey_for(related, consented, organisation), NOW)
    expected = set(BEFORE_CONSENT[kind][related])
    if related:
        expected |= set(consented) & CONSENT_CAN_ADD[kind]
    assert decided.categories == expected
    # The rules the table must keep, whatever it says:
    if not (related and consented):
        assert not decided.categories & SPECIAL, "special categories need a relationship and consent"
    if kind is T.POLICE:
        assert decided.categories <= {Category.CONTACT_POINT}, "police see whom to call, nothing more"
    if kind in (T.PUBLIC, T.FRONTLINE, T.ADMIN):
        assert decided.categories == set()
    if kind in (T.CHARITY, T.HOUSING_PROVIDER, T.HEALTH) and not related:
        assert decided.categories == set(), "no relationship, nothing personal"
    assert Category.REPORTER not in decided.categories


def test_consent_to_a_kind_of_organisation_lapses_and_is_withdrawn() -> None:
    brick = viewer("the-brick", T.CHARITY)
    given = consent("the-brick", types=(T.CHARITY,), categories=(Category.HEALTH,), until=NOW + timedelta(days=1))
    journey = fold(by("the-brick", contact(PERSON, T0)), given)
    assert Category.HEALTH in access(brick, journey, NOW).categories
    assert access(brick, journey, NOW).rule is Rule.CONSENT
    assert Category.HEALTH not in access(brick, journey, NOW + timedelta(days=2)).categories  # lapsed
    withdrawn = fold(by("the-brick", contact(PERSON, T0)), given, consent("the-brick", what="withdrawn",
                                                                        withdrawn=given.id))
    assert Category.HEALTH not in access(brick, withdrawn, NOW).categories


def test_break_glass_shows_all_but_reporters_to_those_who_may_hold_a_case() -> None:
    journey = fold(by("someone-else", report(PERSON, T0)))
    glass = access(viewer("the-brick", T.CHARITY), journey, NOW, break_glass=True)
    assert glass.rule is Rule.BREAK_GLASS and Category.HEALTH in glass.categories
    assert Category.REPORTER not in glass.categories
    assert access(viewer("police", T.POLICE), journey, NOW, break_glass=True).rule is not Rule.BREAK_GLASS


# ---------------------------------------------------------------- what a view shows


def _view(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"person_id": str(PERSON), "stage": "contacted", "last_area": "TC-MARKET", "known_to_outreach": True,
            "key_worker_organisation": "the-brick", "contacts": 2, "strengths": ["cooking"],
            "timeline": list(entries)}


def _entry(source: str, **personal: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "type": "contact.recorded", "source": source,
            "data": {"team": "T", "worker": "W1", "area_code": "TC-MARKET", "bedded_down": True, "engaged": True},
            "personal": {"known_as": "Sam", "needs": ["drugs", "benefits", "offending"], **personal}}


def test_denied_fields_are_absent_and_needs_keep_only_their_allowed_categories() -> None:
    brick = viewer("the-brick", T.CHARITY)
    theirs, ours = _entry("town-outreach"), _entry("the-brick")
    shown = disclose_journey(_view(theirs, ours), brick, frozenset({Category.CONTACT_POINT, Category.COORDINATION}))
    assert shown is not None
    assert set(shown) == {"person_id", "stage", "last_area", "known_to_outreach", "key_worker_organisation",
                          "timeline"}
    assert [e["source"] for e in shown["timeline"]] == ["the-brick"]  # only its own entries, whole
    assert shown["timeline"][0]["personal"]["needs"] == ["drugs", "benefits", "offending"]
    health = disclose_journey(_view(theirs), brick, frozenset({Category.CORE, Category.HEALTH}))
    assert health is not None and health["timeline"][0]["personal"]["needs"] == ["drugs"]
    core_and_support = frozenset({Category.CORE, Category.SUPPORT_NEEDS})
    other = disclose_journey(_view(theirs), brick, core_and_support)
    assert other is not None
    assert other["timeline"][0]["personal"] == {"known_as": "Sam", "needs": ["benefits"]}
    assert "strengths" not in other and "stage" not in other
    police = disclose_journey(_view(theirs), viewer("police", T.POLICE), frozenset({Category.CONTACT_POINT}))
    assert police == {"person_id": str(PERSON), "known_to_outreach": True, "key_worker_organisation": "the-brick"}
    assert disclose_journey(_view(theirs), viewer("public", T.PUBLIC), frozenset()) is None


def test_a_reporters_details_reach_only_the_team_the_report_was_routed_to_until_told() -> None:
    team = viewer("town-outreach", T.OUTREACH)
    assert policy.sees_reporter(team, "town-outreach", reporter_told=False)
    assert not policy.sees_reporter(team, "town-outreach", reporter_told=True)
    assert not policy.sees_reporter(team, "borough-outreach", reporter_told=False)
    assert not policy.sees_reporter(viewer("town-outreach", T.COUNCIL), "town-outreach", reporter_told=False)
    received = {"event_id": "r1", "type": "report.received", "source": "public-app", "data": {"channel": "public"},
                "personal": {"person_description": "red coat", "reporter": {"phone": "0123"}}}
    allowed = frozenset({Category.CORE})
    assert "reporter" in policy.disclose_entry(received, team, allowed, reporter=True)["personal"]
    assert "reporter" not in policy.disclose_entry(received, team, allowed)["personal"]


def test_contact_personal_fields_are_categorised_as_practitioners_expect() -> None:
    assert category_of(ContactPersonal, "place") is Category.CONTACT_DETAILS
    assert category_of(ContactPersonal, "needs") is Category.SUPPORT_NEEDS
    assert category_of(ContactPersonal, "next_step") is Category.COORDINATION


# ---------------------------------------------------------------- statistics


def test_small_counts_are_hidden_and_the_rest_rounded_for_everyone_but_the_council() -> None:
    figures = {"chain": {"new": 3, "stock": 12, "returner": 0}, "reports": {
        "attempted": 2, "hours_to_first_attempt_median": 1.5, "outcomes": {"not_found": 1}}, "area": "TC",
        "moves": {"housed": 0, "evicted": 0, "moved": 15}}
    safe = safe_statistics(figures, T.POLICE)
    # The zero beside a small count is small too: "3 new, 0 returners" would say who the few are.
    assert safe == {"chain": {"new": "<5", "stock": 10, "returner": "<5"}, "reports": {
        "attempted": "<5", "hours_to_first_attempt_median": None, "outcomes": {"not_found": "<5"}}, "area": "TC",
        "moves": {"housed": 0, "evicted": 0, "moved": 15}}
    assert safe_statistics(figures, T.COUNCIL) == figures


def test_a_difference_with_a_period_one_week_shorter_never_reveals_a_small_count() -> None:
    # Three weeks with 12 seen; without the last week 9: that week holds 3 people, so the
    # longer figure is withheld. Without the first week 12: nothing to hide, rounded as usual.
    figures = {"chain": {"seen": 12, "new": 7}, "reports": [{"received": 20}]}
    shorter = [{"chain": {"seen": 12, "new": 7}, "reports": [{"received": 20}]},
               {"chain": {"seen": 9, "new": 7}, "reports": [{"received": 14}]}]
    assert safe_statistics(figures, T.CHARITY, shorter) == {
        "chain": {"seen": policy.WITHHELD, "new": 5}, "reports": [{"received": 20}]}
    assert safe_statistics(figures, T.COUNCIL, shorter) == figures


@pytest.mark.parametrize(("start", "end", "allowed"), [
    ("2026-11-30", "2026-12-07", True),  # a Monday, one week
    ("2026-11-02", "2026-11-30", True),  # four weeks
    ("2026-11-01", "2026-12-01", True),  # a calendar month
    ("2026-01-01", "2027-01-01", True),  # a year of months
    ("2026-12-01", "2026-12-02", False),  # one night
    ("2026-12-01", "2026-12-08", False),  # seven days from a Tuesday: slid by a day
    ("2026-11-30", "2026-12-03", False),  # part of a week
])
def test_partners_ask_for_whole_weeks_or_months_and_the_council_for_any_period(start: str, end: str,
                                                                               allowed: bool) -> None:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    assert (policy.statistics_period_refused(first, last, T.POLICE) is None) is allowed
    assert policy.statistics_period_refused(first, last, T.COUNCIL) is None


def test_the_neighbours_are_the_period_without_its_first_or_last_week_or_month() -> None:
    d = date.fromisoformat
    assert policy.statistics_neighbours(d("2026-11-02"), d("2026-11-23")) == [
        (d("2026-11-09"), d("2026-11-23")), (d("2026-11-02"), d("2026-11-16"))]
    assert policy.statistics_neighbours(d("2026-10-01"), d("2026-12-01")) == [
        (d("2026-11-01"), d("2026-12-01")), (d("2026-10-01"), d("2026-11-01"))]
    assert policy.statistics_neighbours(d("2026-11-30"), d("2026-12-07")) == []
    assert policy.statistics_neighbours(d("2026-11-01"), d("2026-12-01")) == []


def test_the_sharing_policy_document_holds_the_policy_table_as_it_is() -> None:
    readme = (Path(__file__).parents[3] / "docs" / "sharing-policy.md").read_text()
    assert policy.as_markdown() in readme


# ---------------------------------------------------------------- referrals and writes


def referral(organisation: str, what: str, *, to: str = "", answered: uuid.UUID | None = None,
             categories: tuple[Category, ...] = (), at: Any = T0, expires: Any = None) -> ReferralRecorded:
    return ReferralRecorded(
        id=uuid.uuid4(), type=f"referral.{what}", source=organisation, actor="m1", subject=PERSON, time=at,
        recorded_at=at, data=ReferralDetails(
            referral=answered, to_organisation=to or None, reason="Day centre place" if what == "made" else None,
            categories=categories, expires_at=expires,
            decline_reason=DeclineReason.NO_CAPACITY if what == "declined" else None))


def test_consent_recorded_by_an_organisation_begins_no_relationship() -> None:
    # Before, recording a consent made its recorder an organisation that works with the person.
    journey = fold(by("someone-else", report(PERSON, T0)),
                   consent("the-brick", to=("the-brick",), categories=tuple(Category)))
    assert journey.relationships == ()
    assert access(viewer("the-brick", T.CHARITY), journey, NOW).categories == set()


def test_an_accepted_referral_begins_the_receivers_relationship_with_the_consent_it_carried() -> None:
    brick = viewer("the-brick", T.CHARITY)
    made = referral("town-outreach", "made", to="the-brick", categories=(Category.CORE, Category.SUPPORT_NEEDS))
    waiting = fold(by("town-outreach", contact(PERSON, T0)), made)
    assert waiting.referrals[0].status == "open"
    assert access(brick, waiting, NOW).categories == set(), "an open referral shows the receiver nothing yet"
    accepted = fold(by("town-outreach", contact(PERSON, T0)), made,
                    referral("the-brick", "accepted", answered=made.id, at=T0 + timedelta(hours=1)))
    assert accepted.referrals[0].status == "accepted"
    assert [(r.organisation, r.reason) for r in accepted.relationships] == [
        ("town-outreach", "contact"), ("the-brick", "referral")]
    assert access(brick, accepted, NOW).categories == {
        Category.CONTACT_POINT, Category.COORDINATION, Category.CORE, Category.SUPPORT_NEEDS}
    assert access(brick, accepted, NOW).rule is Rule.CONSENT


@pytest.mark.parametrize(("answer", "by_whom"), [
    ("accepted", "someone-else"),  # only the receiver accepts
    ("withdrawn", "the-brick"),  # only the referrer withdraws
    ("declined", "the-brick"), ("withdrawn", "town-outreach"),
])
def test_a_referral_answered_by_another_or_closed_gives_the_receiver_nothing(answer: str, by_whom: str) -> None:
    made = referral("town-outreach", "made", to="the-brick", categories=(Category.HEALTH,))
    journey = fold(by("town-outreach", contact(PERSON, T0)), made,
                   referral(by_whom, answer, answered=made.id, at=T0 + timedelta(hours=1)),
                   referral("the-brick", "accepted", answered=made.id, at=T0 + timedelta(hours=2)))
    relationships = {r.organisation for r in journey.relationships}
    if (answer, by_whom) in (("accepted", "someone-else"), ("withdrawn", "the-brick")):
        # An answer not theirs to give changed nothing; the receiver's own acceptance then counted.
        assert journey.referrals[0].status == "accepted" and relationships == {"town-outreach", "the-brick"}
        return
    assert "the-brick" not in relationships and "someone-else" not in relationships
    assert access(viewer("the-brick", T.CHARITY), journey, NOW).categories == set()
    # Declined or withdrawn: what the person agreed to share with the receiver lapsed with it.
    assert all(c.consent_id != made.id for c in journey.consents)


def test_a_referral_accepted_after_it_expired_changes_nothing() -> None:
    made = referral("town-outreach", "made", to="the-brick", expires=T0 + timedelta(days=14))
    journey = fold(by("town-outreach", contact(PERSON, T0)), made,
                   referral("the-brick", "accepted", answered=made.id, at=T0 + timedelta(days=15)))
    assert journey.referrals[0].status == "open"
    assert referral_status(journey.referrals[0], T0 + timedelta(days=15)) == "expired"
    assert {r.organisation for r in journey.relationships} == {"town-outreach"}


def test_an_acceptance_given_in_time_counts_whether_it_arrives_before_or_after_the_timer_expired_it() -> None:
    # Before, the timer's expiry won when it arrived first: the receiver's phone was offline, its
    # acceptance arrived late, the API answered 409 and the journey depended on arrival order.
    made = referral("town-outreach", "made", to="the-brick", categories=(Category.HEALTH,),
                    expires=T0 + timedelta(days=14))
    accepted = referral("the-brick", "accepted", answered=made.id, at=T0 + timedelta(days=13))
    expired = referral("journeys", "expired", answered=made.id, at=T0 + timedelta(days=14))
    seen = by("town-outreach", contact(PERSON, T0))
    in_order, late = fold(seen, made, accepted, expired), fold(seen, made, expired, accepted)
    assert late.referrals == in_order.referrals and late.referrals[0].status == "accepted"
    assert late.consents == in_order.consents and late.relationships == in_order.relationships
    brick = viewer("the-brick", T.CHARITY)
    assert access(brick, late, NOW + timedelta(days=20)) == access(brick, in_order, NOW + timedelta(days=20))
    assert Category.HEALTH in access(brick, late, NOW + timedelta(days=20)).categories
    # Expired and nothing more: what the person agreed to share lapsed at the expiry.
    lapsed = fold(seen, made, expired)
    assert Category.HEALTH not in access(brick, lapsed, NOW + timedelta(days=20)).categories
    # A consent the person withdrew meanwhile is not brought back by the late acceptance.
    withdrawn = ConsentRecorded(id=uuid.uuid4(), type="consent.withdrawn", source="town-outreach", actor="m1",
                                subject=PERSON, time=T0 + timedelta(days=15), recorded_at=T0 + timedelta(days=15),
                                data=ConsentDetails(consent=made.id))
    assert all(c.consent_id != made.id for c in fold(seen, made, expired, withdrawn, accepted).consents)


# Who may record what about a person, for every kind of organisation: related or not, with a
# referral accepted or not, with consent or not.
@pytest.mark.parametrize(("kind", "related", "referred", "consented"), list(product(
    OrganisationType, (False, True), (False, True), (False, True))))
def test_the_write_matrix(kind: OrganisationType, related: bool, referred: bool, consented: bool) -> None:
    organisation = f"org-{kind.value}"
    events: list[Any] = [by("someone-else", report(PERSON, T0)), by("town-outreach", contact(PERSON, T0))]
    if related:
        events.append(by(organisation, contact(PERSON, T0 + timedelta(minutes=1))))
    if referred:
        made = referral("town-outreach", "made", to=organisation, categories=(Category.HEALTH,),
                        at=T0 + timedelta(minutes=2))
        events += [made, referral(organisation, "accepted", answered=made.id, at=T0 + timedelta(minutes=3))]
    if consented:
        events.append(consent("town-outreach", to=(organisation,), categories=tuple(Category)))
    journey = fold(*events)
    me = viewer(organisation, kind)
    takes_on = kind in (T.COUNCIL, T.OUTREACH, T.CHARITY, T.HOUSING_PROVIDER, T.HEALTH)
    works = (related or referred) and takes_on
    anyone = kind in (T.OUTREACH, T.COUNCIL)
    assert policy.may_write(me, journey, NOW) == (anyone or bool(access(me, journey, NOW).categories))
    # Nobody but outreach, the council and those who work with the person (police see whom to
    # call, and may report): consent alone never opens a door.
    if kind not in (T.OUTREACH, T.COUNCIL, T.POLICE):
        assert policy.may_write(me, journey, NOW) == works
    assert policy.may_record_consent(me, journey) == works
    assert policy.may_refer(me, journey) == (anyone or works)
    assert policy.may_assign_key_worker(me, journey) == anyone
    assert policy.may_close_case(me, journey, "died") == (kind is T.COUNCIL)
    assert policy.may_write(me, None, NOW) == anyone, "a person nobody recorded: only outreach and the council"


def test_report_steps_are_the_routed_teams_or_the_councils() -> None:
    assert policy.may_work_report(viewer("north-outreach", T.OUTREACH), "north-outreach")
    assert not policy.may_work_report(viewer("south-outreach", T.OUTREACH), "north-outreach")
    assert not policy.may_work_report(viewer("south-outreach", T.OUTREACH), None)
    assert policy.may_work_report(viewer("council", T.COUNCIL), "north-outreach")
    assert not policy.may_work_report(viewer("the-brick", T.CHARITY), "the-brick")
