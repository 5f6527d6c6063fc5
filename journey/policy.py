"""The sharing policy: what each viewer may see of a person, decided in one place.

Every read of a person's data (journey view, timeline, candidates, beds, reports, statistics, and
what is pushed to partners) asks `access` which categories of information the viewer may see,
and `visible` drops every field of another category. The table below is the whole policy; the
docs/sharing-policy.md prints it for data protection officers.

- Before consent, what an organisation sees depends on its type and on whether it works with the
  person now (a relationship, derived from the events: journey/state.py).
- Consent adds categories, only for an organisation with a relationship, only while the consent
  holds (not withdrawn, not past its `until`). Special categories need both.
- An organisation always sees what it recorded itself (its own timeline entries, whole).
- Break-glass: a member states a reason and sees everything but reporters' details, for a short
  time; it is recorded and listed for the organisation's data protection lead.
- A reporter's contact details are seen only by the outreach team the report was routed to,
  until the reporter has been told the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, get_args

from pydantic import BaseModel

from journey.state import Journey, works_with
from schemas.events import NEED_CATEGORY, RISK_FACTOR_CATEGORY, Event
from schemas.sharing import Category, OrganisationType, category_of
from schemas.views import JourneyView

C = Category
T = OrganisationType

_KNOWN = frozenset({C.CONTACT_POINT})
_COORDINATING = frozenset({C.CONTACT_POINT, C.COORDINATION})
_CASEWORK = frozenset({C.CONTACT_POINT, C.COORDINATION, C.CORE})
_WORKING = _CASEWORK | {C.CONTACT_DETAILS, C.STRENGTHS_GOALS}
_NOTHING: frozenset[Category] = frozenset()
_ALL_BUT_REPORTER = frozenset(Category) - {C.REPORTER}

# Organisation type -> (without a relationship, with one): the categories seen before consent.
BEFORE_CONSENT: Mapping[OrganisationType, tuple[frozenset[Category], frozenset[Category]]] = {
    T.COUNCIL: (_CASEWORK, _WORKING),
    T.OUTREACH: (_CASEWORK, _WORKING),
    T.CHARITY: (_NOTHING, _COORDINATING),
    T.HOUSING_PROVIDER: (_NOTHING, _COORDINATING),
    T.HEALTH: (_NOTHING, _COORDINATING),
    T.POLICE: (_KNOWN, _KNOWN),
    T.FRONTLINE: (_NOTHING, _NOTHING),
    T.PUBLIC: (_NOTHING, _NOTHING),
    T.ADMIN: (_NOTHING, _NOTHING),
}

# Organisation type -> what the person's consent can add (with a relationship only). Police never
# see support needs or anything beyond whom to call; the public, reporters and operators nothing.
CONSENT_CAN_ADD: Mapping[OrganisationType, frozenset[Category]] = {
    T.COUNCIL: _ALL_BUT_REPORTER,
    T.OUTREACH: _ALL_BUT_REPORTER,
    T.CHARITY: _ALL_BUT_REPORTER,
    T.HOUSING_PROVIDER: _ALL_BUT_REPORTER,
    T.HEALTH: _ALL_BUT_REPORTER,
    T.POLICE: _NOTHING,
    T.FRONTLINE: _NOTHING,
    T.PUBLIC: _NOTHING,
    T.ADMIN: _NOTHING,
}

# Kinds of organisation that may see anything of anyone: the others are refused (403) before
# any person is looked up.
MAY_READ_PEOPLE = frozenset(t for t in OrganisationType if any(BEFORE_CONSENT[t]) or CONSENT_CAN_ADD[t])



def most_seen(organisation_type: OrganisationType) -> frozenset[Category]:
    """The most an organisation of this type can ever see of anyone (a relationship and consent)."""
    return BEFORE_CONSENT[organisation_type][1] | CONSENT_CAN_ADD[organisation_type]


# Who may read beyond the policy with a stated reason (break-glass): those who may hold a case.
MAY_BREAK_GLASS = frozenset({T.COUNCIL, T.OUTREACH, T.CHARITY, T.HOUSING_PROVIDER, T.HEALTH})


class Rule(StrEnum):
    """Why a viewer saw what they saw: recorded with every read in the audit."""

    ROLE = "role"  # the organisation's type alone (no relationship)
    RELATIONSHIP = "relationship"
    CONSENT = "consent"
    BREAK_GLASS = "break_glass"
    REFERRAL = "referral"  # a referral the reader's organisation made or received (its inbox)
    SUBJECT_ACCESS = "subject_access"  # the council's data protection lead answering the person's request
    ERASURE = "erasure"  # the council's data protection lead erasing the person's data


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is reading: a member of an organisation of a type."""

    member: str
    organisation: str
    type: OrganisationType


@dataclass(frozen=True, slots=True)
class Access:
    """What a viewer may see of one person, and under which rule."""

    categories: frozenset[Category]
    rule: Rule

    @property
    def anything(self) -> bool:
        return bool(self.categories)


def consented(journey: Journey, viewer: Viewer, now: datetime) -> frozenset[Category]:
    """The categories the person's consents, holding now, give this viewer's organisation."""
    found: set[Category] = set()
    for consent in journey.consents:
        if consent.until is not None and consent.until <= now:
            continue
        if viewer.organisation in consent.organisations or viewer.type.value in consent.organisation_types:
            found.update(Category(c) for c in consent.categories)
    return frozenset(found)


def access(viewer: Viewer, journey: Journey, now: datetime, *, break_glass: bool = False) -> Access:
    """What `viewer` may see of the person whose journey this is, at `now`. A record held by the
    organisation that reported the person at risk without their consent to be referred is seen
    by nobody else, whatever their type, and not by break-glass either: the person said no."""
    if journey.held_by is not None and journey.held_by != viewer.organisation:
        return Access(_NOTHING, Rule.ROLE)
    related = works_with(journey, viewer.organisation)
    before = BEFORE_CONSENT[viewer.type][related]
    if break_glass and viewer.type in MAY_BREAK_GLASS:
        return Access(_ALL_BUT_REPORTER, Rule.BREAK_GLASS)
    if not related:
        return Access(before, Rule.ROLE)
    added = consented(journey, viewer, now) & CONSENT_CAN_ADD[viewer.type]
    if added - before:
        return Access(before | added, Rule.CONSENT)
    return Access(before, Rule.RELATIONSHIP)


# ---------------------------------------------------------------- writes

# Kinds of organisation that may record about anyone they may see, relationship or not: street
# outreach finds people nobody works with yet, and the council holds the statutory duties.
MAY_WRITE_ABOUT_ANYONE = frozenset({T.OUTREACH, T.COUNCIL})
# Kinds of organisation that can take a person on (receive a referral, hold a key worker).
MAY_TAKE_ON = frozenset({T.COUNCIL, T.OUTREACH, T.CHARITY, T.HOUSING_PROVIDER, T.HEALTH})


def may_write(viewer: Viewer, journey: Journey | None, now: datetime) -> bool:
    """Whether this organisation may record something about the person: a write needs the right
    to see them. Outreach and the council may (a person nobody has recorded yet too); others
    only about a person they may already see something of (a relationship, begun by an act the
    policy trusts: an accepted referral, a key worker assigned by outreach or the council, a bed
    allocated on a request)."""
    if viewer.type in MAY_WRITE_ABOUT_ANYONE:
        return True
    return journey is not None and access(viewer, journey, now).anything


def may_record_consent(viewer: Viewer, journey: Journey | None) -> bool:
    """Consent is recorded by an organisation that works with the person (who asked them)."""
    return viewer.type in MAY_TAKE_ON and journey is not None and works_with(journey, viewer.organisation)


def may_refer(viewer: Viewer, journey: Journey | None) -> bool:
    """A referral is made by an organisation that works with the person, or by outreach or the
    council."""
    if viewer.type in MAY_WRITE_ABOUT_ANYONE:
        return True
    return viewer.type in MAY_TAKE_ON and journey is not None and works_with(journey, viewer.organisation)


def may_assign_key_worker(viewer: Viewer, journey: Journey | None) -> bool:
    """Key workers are assigned by outreach, the council, or the current key worker's organisation."""
    if viewer.type in MAY_WRITE_ABOUT_ANYONE:
        return True
    return journey is not None and journey.case.key_worker_organisation == viewer.organisation


def may_close_case(viewer: Viewer, journey: Journey | None, reason: str) -> bool:
    """The key worker's organisation or the council closes a case (with no key worker, an
    organisation that works with the person); a death only the council records or confirms."""
    if viewer.type is T.COUNCIL:
        return True
    if reason == "died" or journey is None or viewer.type not in MAY_TAKE_ON:
        return False
    holder = journey.case.key_worker_organisation
    return holder == viewer.organisation if holder else works_with(journey, viewer.organisation)


def may_work_report(viewer: Viewer, routed_to: str | None) -> bool:
    """Report steps (attempted, outcome, reporter told) are recorded by the outreach team the
    report was routed to, or the council."""
    return viewer.type is T.COUNCIL or (viewer.type is T.OUTREACH and routed_to == viewer.organisation)


def may_be_told(viewer: Viewer, journey: Journey, now: datetime, *, own: bool = False,
                related_only: bool = False) -> bool:
    """Whether an update about this person may be queued for, listed to or replayed to a
    subscriber now: pushes follow reads. `own`: the update is of an entry the subscriber's
    organisation recorded itself (recorded_by); `related_only`: the subscription asked only for
    the people its organisation works with."""
    if related_only and not works_with(journey, viewer.organisation):
        return False
    return own or access(viewer, journey, now).anything


def sees_referral(viewer: Viewer, from_organisation: str, to_organisation: str) -> bool:
    """A referral is seen by the organisation that made it and the one it was made to."""
    return viewer.organisation in (from_organisation, to_organisation)


# A member of the person's outreach team may need to call the reporter back; nobody else does,
# and once the reporter has been told the outcome nobody needs their details.
def sees_reporter(viewer: Viewer, routed_to: str | None, reporter_told: bool) -> bool:
    return viewer.type is T.OUTREACH and routed_to == viewer.organisation and not reporter_told


@cache
def categories(model: type[BaseModel]) -> dict[str, Category | None]:
    return {name: category_of(model, name) for name in model.model_fields}


@cache
def _families() -> dict[str, tuple[type[BaseModel], type[BaseModel]]]:
    """Event type -> (its data model, its personal model)."""
    found = {}
    for family in get_args(get_args(Event)[0]):
        for event_type in get_args(family.model_fields["type"].annotation):
            found[event_type] = (family.model_fields["data"].annotation, family.model_fields["personal"].annotation)
    return found


def event_families() -> list[str]:
    """The families of events (report, contact, case, bed, ...): what a subscription may ask for."""
    return sorted({event_type.split(".", 1)[0] for event_type in _families()})


def family_models(event_type: str) -> tuple[type[BaseModel], type[BaseModel]]:
    return _families()[event_type]


# Lists whose values each have a category of their own: the list is shown to whoever may see any
# of its values' categories, with only the values whose own category is allowed.
VALUE_CATEGORIES: Mapping[str, Mapping[Any, Category]] = {"needs": NEED_CATEGORY, "factors": RISK_FACTOR_CATEGORY}
_LIST_CATEGORIES = {name: frozenset(by_value.values()) for name, by_value in VALUE_CATEGORIES.items()}


def visible(fields: Mapping[str, Any], model: type[BaseModel], allowed: frozenset[Category]) -> dict[str, Any]:
    """The fields of `model` whose category is allowed; a field without one is never shown. A
    list of needs (or risk factors) is shown to whoever may see any kind of need, with only the
    needs whose own category is allowed (drugs are health, offending is offending...)."""
    declared = categories(model)
    shown: dict[str, Any] = {}
    for name, value in fields.items():
        category = declared.get(name)
        by_value = VALUE_CATEGORIES.get(name)
        if by_value is not None:
            if allowed & _LIST_CATEGORIES[name]:
                shown[name] = [item for item in value if by_value.get(item) in allowed]
        elif category is not None and category in allowed:
            shown[name] = value
    return shown


_WHOLE = frozenset(Category)
# An answer to a referral is about the referral, not a record the answering organisation made of
# the person: a receiver that declined must not see the person through its own "no".
_REFERRAL_ANSWERS = frozenset({"referral.accepted", "referral.declined", "referral.withdrawn", "referral.expired"})


def recorded_by(entry: Mapping[str, Any], viewer: Viewer) -> bool:
    """Whether the viewer's organisation recorded this timeline entry (and so sees it whole)."""
    return entry["source"] == viewer.organisation and entry["type"] not in _REFERRAL_ANSWERS


def disclose_entry(entry: Mapping[str, Any], viewer: Viewer, allowed: frozenset[Category], *,
                   reporter: bool = False) -> dict[str, Any]:
    """A timeline entry as this viewer may see it: whole if its organisation recorded it;
    otherwise the envelope with the data and personal fields of allowed categories."""
    if recorded_by(entry, viewer):
        allowed = _WHOLE
    elif reporter:
        allowed = allowed | {Category.REPORTER}
    else:
        allowed = allowed - {Category.REPORTER}
    data_model, personal_model = family_models(entry["type"])
    return {**entry, "data": visible(entry["data"], data_model, allowed),
            "personal": visible(entry["personal"], personal_model, allowed)}


def for_the_subject(view: Mapping[str, Any]) -> dict[str, Any]:
    """What a subject access request gives the person (UK GDPR art. 15): everything held about
    them, from every organisation, and nothing about anyone else: a reporter's contact details
    are the reporter's own personal data, so they are left out."""
    shown = visible({k: v for k, v in view.items() if k != "timeline"}, JourneyView, _ALL_BUT_REPORTER)
    shown["person_id"] = view["person_id"]
    shown["timeline"] = [{**entry, "data": visible(entry["data"], family_models(entry["type"])[0], _ALL_BUT_REPORTER),
                          "personal": visible(entry["personal"], family_models(entry["type"])[1], _ALL_BUT_REPORTER)}
                         for entry in view.get("timeline", ())]
    return shown


def may_answer_subject_access(viewer: Viewer, data_protection_lead: bool) -> bool:
    """Only the council's data protection lead answers a subject access request: the council is
    the controller that runs the platform for the partnership, and one answer covers every
    organisation's records."""
    return data_protection_lead and viewer.type is T.COUNCIL


def may_erase(viewer: Viewer, data_protection_lead: bool) -> bool:
    """Erasure, like subject access, is decided by the council's data protection lead: one
    decision covers every organisation's records of the person."""
    return data_protection_lead and viewer.type is T.COUNCIL


def disclose_journey(view: Mapping[str, Any], viewer: Viewer, allowed: frozenset[Category], *,
                     reporters: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """The journey view (JourneyView's fields, as plain values) as this viewer may see it: only
    allowed fields are present; the timeline holds every entry when `core` is allowed, else only
    the viewer's own organisation's entries. `reporters` holds the report ids whose reporter
    this viewer may see. None when the viewer may see nothing of the person."""
    shown = visible({k: v for k, v in view.items() if k != "timeline"}, JourneyView, allowed)
    entries = [disclose_entry(e, viewer, allowed, reporter=str(e["event_id"]) in reporters)
               for e in view.get("timeline", ()) if Category.CORE in allowed or recorded_by(e, viewer)]
    if entries or Category.CORE in allowed:
        shown["timeline"] = entries
    if not shown:
        return None
    return {"person_id": view["person_id"], **shown}


# ---------------------------------------------------------------- bed requests

# A bed type that says something of the person: a bed for people with no recourse to public
# funds says their immigration status.
_BED_TYPE_CATEGORY = {"no_recourse_to_public_funds": C.IMMIGRATION}


def disclose_bed_request(fields: Mapping[str, Any], allowed: frozenset[Category]) -> dict[str, Any]:
    """A bed request as a reader who sees `allowed` of its person may see it: who it is for only
    to a reader who may see the person at all, a bed type that tells a category only to a reader
    of that category (the request, its night, bed and status are the provider's own business)."""
    shown = dict(fields)
    if not allowed:
        shown["person_id"] = None
    category = _BED_TYPE_CATEGORY.get(str(shown.get("bed_type")))
    if category is not None and category not in allowed:
        shown["bed_type"] = None
    return shown


# ---------------------------------------------------------------- statistics

# Kinds of organisation that see exact counts (the council's own analysts); everyone else sees
# counts from 1 to 4 as "<5" and every other count rounded to the nearest 5, so that no figure,
# and no difference of two figures, can point at a person.
EXACT_STATISTICS = frozenset({T.COUNCIL})
SMALL = 5
# Measures over a count: shown only when the count they are taken over is not small.
MEASURED_OVER = {"hours_to_first_attempt_median": "attempted", "hours_to_first_attempt_p90": "attempted",
                 "hours_to_accept_median": "accepted", "hours_report_to_acceptance_median": "referrals_accepted"}


def _rounded(count: int) -> int | str:
    if 0 < count < SMALL:
        return f"<{SMALL}"
    return SMALL * round(count / SMALL)


def safe_statistics(figures: Any, viewer_type: OrganisationType, neighbours: Sequence[Any] = (), *,
                    keep_zeros: bool = False) -> Any:
    """Statistics as this kind of organisation may see them. `neighbours`: the exact figures of
    the periods another request could set beside this one to take a difference (the period
    without its first or its last week or month): a count that differs from its neighbour's by 1
    to 4 is withheld (secondary suppression), so no difference of published figures reveals one.
    `keep_zeros`: the board's live counts of where people are tonight and which beds are free,
    whose zeros are the point ("no one at the station", "no bed free") and say nothing of who."""
    if viewer_type in EXACT_STATISTICS:
        return figures
    return _suppressed(figures, list(neighbours), keep_zeros)


WITHHELD = "withheld"  # a count whose difference from a neighbouring period's would reveal a small one


def _small(count: Any) -> bool:
    return isinstance(count, int) and not isinstance(count, bool) and 0 < count < SMALL


def _suppressed(value: Any, neighbours: list[Any], keep_zeros: bool) -> Any:
    if isinstance(value, dict):
        shown = {key: _suppressed(item, [n.get(key) if isinstance(n, dict) else None for n in neighbours], keep_zeros)
                 for key, item in value.items()}
        for measure, base in MEASURED_OVER.items():
            if measure in shown and _small(value.get(base)):
                shown[measure] = None
        # A zero beside a small count would say where the few are (3 seen, 0 of them new: all
        # returners); shown as small too.
        if not keep_zeros and any(_small(item) for item in value.values()):
            shown = {key: f"<{SMALL}" if item == 0 and not isinstance(item, bool) else item
                     for key, item in shown.items()}
        return shown
    if isinstance(value, list):
        return [_suppressed(item, [n[i] if isinstance(n, list) and i < len(n) else None for n in neighbours],
                            keep_zeros) for i, item in enumerate(value)]
    if isinstance(value, int) and not isinstance(value, bool):
        if any(isinstance(n, int) and _small(abs(value - n)) for n in neighbours):
            return WITHHELD
        return _rounded(value)
    return value


def statistics_period_refused(start: date, end: date, viewer_type: OrganisationType) -> str | None:
    """Why this kind of organisation may not have statistics for this period, or None. Everyone
    but the council's analysts asks for whole ISO weeks (Monday to Monday) or whole calendar
    months: one-night windows slid a day at a time would difference out what rounding hides."""
    if viewer_type in EXACT_STATISTICS:
        return None
    if start.weekday() == 0 and (end - start).days % 7 == 0:
        return None
    if start.day == 1 and end.day == 1:
        return None
    return "the period must be whole weeks (start on a Monday, a multiple of 7 days) or whole calendar months " \
           "(start and end on the 1st)"


def statistics_neighbours(start: date, end: date) -> list[tuple[date, date]]:
    """The periods one cell shorter than this one that a reader may also ask for: without its
    first or its last week (or month). Their figures are the differences to guard."""
    if start.weekday() == 0 and (end - start).days % 7 == 0:
        step_start, step_end = start + timedelta(days=7), end - timedelta(days=7)
    elif start.day == 1 and end.day == 1:
        step_start = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        step_end = (end - timedelta(days=1)).replace(day=1)
    else:
        return []
    if step_start >= end:
        return []  # one cell: nothing shorter to difference it with
    return [(step_start, end), (start, step_end)]


# ---------------------------------------------------------------- the table, for people


def as_markdown() -> str:
    """The policy as a table for data protection officers (docs/sharing-policy.md prints this very text)."""
    def names(categories: frozenset[Category]) -> str:
        return ", ".join(c.value for c in Category if c in categories) or "nothing"

    lines = ["| organisation type | no relationship | works with the person | consent can add (with a relationship) |",
             "|---|---|---|---|"]
    for kind in OrganisationType:
        alone, working = BEFORE_CONSENT[kind]
        added = CONSENT_CAN_ADD[kind] - working
        lines.append(f"| {kind.value} | {names(alone)} | {names(working)} | {names(added)} |")
    return "\n".join(lines)
