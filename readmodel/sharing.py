"""Every read of a person's data goes through here: the policy decides (journey/policy.py), this
module loads what it needs, and writes the one audit entry of the read."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Engine, func, select

from journey import policy
from journey.matching import Profile, Search, found, search_keys
from journey.policy import Access, Viewer
from journey.reports import Routing
from journey.state import Journey, contact_point, works_with
from readmodel.data_keys import keyring
from readmodel.keys import Principal, account_event
from readmodel.people import get_journey, journey_of, load_journey, load_journeys, person_as_one, summary_fields
from readmodel.profiles import profiles, read_in_order, recent_first
from readmodel.referrals import status_now
from readmodel.search_keys import people_with
from readmodel.tables import (
    audit_entries,
    break_glass,
    journeys,
    lead_alerts,
    referrals,
    sighting_reports,
    timeline_entries,
)
from schemas.ids import duty_to_refer_id
from schemas.settings import Settings
from schemas.sharing import Category
from schemas.views import JourneyView, PersonFound, ReferralView, RiskReportView, TimelineItem


def breaking_glass(engine: Engine, principal: Principal, person_id: UUID, now: datetime) -> bool:
    """Whether this member holds a break-glass grant for this person now."""
    return str(person_id) in breaking_glass_for(engine, principal, [str(person_id)], now)


def breaking_glass_for(engine: Engine, principal: Principal, people: Collection[str], now: datetime) -> set[str]:
    """The ones of these people this member holds a break-glass grant for now (one statement)."""
    if not people:
        return set()
    with engine.connect() as connection:
        return set(connection.execute(
            select(break_glass.c.person_id).where(
                break_glass.c.member_id == principal.member_id, break_glass.c.person_id.in_(list(people)),
                break_glass.c.started_at <= now, break_glass.c.until > now)
        ).scalars())


class BreakGlassCapped(Exception):
    """The member has used break-glass as often as a day allows: their data protection lead must
    look first (they are told of the refusal too)."""


def grant_break_glass(engine: Engine, principal: Principal, person_id: UUID, reason: str, until: datetime,
                      now: datetime, *, daily_cap: int) -> str:
    """Records a grant, or refuses one over the member's daily cap; either way the organisation's
    data protection lead is told at once (an account event and an alert the worker emails)."""
    grant_id = str(uuid4())
    with engine.begin() as connection:
        taken = connection.execute(select(func.count()).select_from(break_glass).where(
            break_glass.c.member_id == principal.member_id,
            break_glass.c.started_at > now - timedelta(days=1))).scalar_one()
        capped = taken >= daily_cap
        if not capped:
            connection.execute(break_glass.insert().values(
                grant_id=grant_id, member_id=principal.member_id, organisation=principal.organisation,
                person_id=str(person_id), reason=reason, started_at=now, until=until))
        entry = account_event(
            connection, organisation=principal.organisation, actor=principal.member_id, now=now,
            action="break_glass.refused" if capped else "break_glass.taken", member_id=principal.member_id,
            detail=f"{taken} in the last 24 hours, the cap is {daily_cap}" if capped else f"grant {grant_id}")
        connection.execute(lead_alerts.insert().values(
            entry_id=entry, organisation=principal.organisation, status="pending", attempts=0, next_try_at=now,
            created_at=now))
    if capped:
        raise BreakGlassCapped
    return grant_id


class NotVisible(LookupError):
    """The member's organisation may not see the person, so may not record about them either:
    the API answers as it does for a person nobody knows (404)."""


def writable(engine: Engine, principal: Principal, person_id: UUID, now: datetime) -> Journey | None:
    """The journey (the kept record's, for a merged one) the member is about to record about, if
    their organisation may: a write needs the right to see (journey/policy.py's may_write).
    None: outreach or the council writing about a person not (yet) in the read model."""
    journey = load_journey(engine, person_id)
    if journey is not None and journey.merged_into is not None:
        journey = load_journey(engine, journey.merged_into) or journey
    if journey is not None:
        journey = person_as_one(engine, journey)
    if not policy.may_write(principal.viewer, journey, now):
        raise NotVisible
    return journey


def access_to(engine: Engine, principal: Principal, person_id: UUID, journey: Journey, now: datetime) -> Access:
    return policy.access(principal.viewer, journey, now,
                         break_glass=breaking_glass(engine, principal, person_id, now))


def audit(engine: Engine, viewer: Viewer, person_id: UUID | str, shown: Any, rule: str, endpoint: str,
          now: datetime) -> None:
    """One entry for one read of one person's data: who, what categories, under which rule."""
    with engine.begin() as connection:
        connection.execute(audit_entries.insert(), [audit_row(viewer, person_id, shown, rule, endpoint, now)])


def audit_row(viewer: Viewer, person_id: UUID | str, shown: Any, rule: str, endpoint: str,
              now: datetime) -> dict[str, Any]:
    """The audit entry of one read (`audit`), for reads that write many in one statement."""
    return {"at": now, "member_id": viewer.member, "organisation": viewer.organisation, "person_id": str(person_id),
            "categories": ",".join(sorted(shown)), "rule": rule, "endpoint": endpoint}


def _reporters(engine: Engine, viewer: Viewer, report_ids: list[str]) -> frozenset[str]:
    """The reports whose reporter this reader may see (the team it was routed to, until told)."""
    if not report_ids:
        return frozenset()
    with engine.connect() as connection:
        rows = connection.execute(
            select(sighting_reports.c.report_id, sighting_reports.c.team, sighting_reports.c.reporter_told_at)
            .where(sighting_reports.c.report_id.in_(report_ids))
        ).all()
    return frozenset(r.report_id for r in rows
                     if policy.sees_reporter(viewer, r.team, r.reporter_told_at is not None))


def disclosed_journey(engine: Engine, principal: Principal, person_id: UUID, settings: Settings, now: datetime,
                      endpoint: str) -> dict[str, Any] | None:
    """The person's journey as this reader may see it, audited; None when they may see nothing
    (the same answer as for a person nobody knows)."""
    found = get_journey(engine=engine, person_id=person_id, now=now, zone=settings.zone,
                        inactive_after_days=settings.case_inactive_after_days)
    if found is None:
        return None
    view, journey = found
    decided = access_to(engine, principal, person_id, journey, now)
    whole = view.model_dump(mode="json")
    reports = [str(e["event_id"]) for e in whole["timeline"] if e["type"] == "report.received"]
    shown = policy.disclose_journey(whole, principal.viewer, decided.categories,
                                    reporters=_reporters(engine, principal.viewer, reports))
    if shown is None:
        return None
    seen = set(decided.categories)
    if any(policy.recorded_by(e, principal.viewer) for e in shown.get("timeline", ())):
        seen.add("own_records")
    audit(engine, principal.viewer, person_id, seen, decided.rule.value, endpoint, now)
    return shown


def search_people(engine: Engine, principal: Principal, search: Search, now: datetime,
                  endpoint: str = "GET /v1/people") -> list[dict[str, Any]]:
    """The people matching the search that this reader may see, each as far as they may see it
    (one audit entry per person shown, naming where the search was made)."""
    # Only the people who share a key with the search are opened and scored (readmodel/search_keys.py),
    # the most recently seen first, until the best that can be found are found (journey.matching.found).
    candidates = recent_first(engine, people_with(engine, search_keys(search), now))
    return _shown_people(engine, principal, found(read_in_order(engine, candidates), search), now, endpoint,
                         needs=frozenset(search.terms().values()))


def seen_lately(engine: Engine, principal: Principal, routing: Routing, since: datetime, now: datetime,
                limit: int = 50) -> list[dict[str, Any]]:
    """The people seen (a contact or a report) since `since` in the areas routed to the reader's
    team, the most recently seen first, each as far as the reader may see them (audited)."""
    table = timeline_entries.c
    with engine.connect() as connection:
        rows = connection.execute(
            select(table.person_id, table.occurred_at, table.data)
            .where(table.type.in_(("contact.recorded", "report.received")), table.occurred_at >= since)
        ).all()
        kept = dict(connection.execute(
            select(journeys.c.person_id, journeys.c.merged_into).where(journeys.c.merged_into.is_not(None))).all())
    last: dict[str, tuple[datetime, str]] = {}
    for row in rows:
        area = (row.data or {}).get("area_code")
        if routing.team_for(area) != principal.organisation:
            continue
        person = kept.get(row.person_id, row.person_id)  # a merged record is seen as the kept one
        if person not in last or row.occurred_at > last[person][0]:
            last[person] = (row.occurred_at, area)
    latest = sorted(last.items(), key=lambda item: item[1][0], reverse=True)[:limit]
    everyone = profiles(engine, only=[person for person, _ in latest], splits=False)
    shown = _shown_people(engine, principal, [everyone[UUID(p)] for p, _ in latest if UUID(p) in everyone], now,
                          "GET /outreach")
    when = {UUID(person): seen for person, seen in latest}
    return [{**row, "seen_at": when[row["person_id"]][0], "seen_in": when[row["person_id"]][1]} for row in shown]


def _shown_people(engine: Engine, principal: Principal, people: Sequence[Profile], now: datetime,
                  endpoint: str, needs: frozenset[Category] = frozenset()) -> list[dict[str, Any]]:
    """`needs`: the categories the search's terms were matched against. A person is shown only
    to a reader who may see all of them of that person: otherwise whether they were found would
    tell the reader a field it may not see (a date of birth tried value by value)."""
    # Twenty people shown: their journeys, grants and audit entries read and written once, not a
    # statement (and a commit) each.
    ids = [str(profile.person_id) for profile in people]
    states, glass = load_journeys(engine, ids), breaking_glass_for(engine, principal, ids, now)
    shown, audits = [], []
    for profile, person in zip(people, ids, strict=True):
        journey = states.get(person)
        if journey is None:
            continue
        decided = policy.access(principal.viewer, journey, now, break_glass=person in glass)
        if not needs <= decided.categories:
            continue
        whole = {**contact_point(journey), "stage": journey.stage.value, "last_area": journey.last_area,
                 "names": sorted(profile.names),
                 "date_of_birth": profile.date_of_birth}
        row = policy.visible(whole, PersonFound, decided.categories)
        if not row:
            continue
        audits.append(audit_row(principal.viewer, person, decided.categories, decided.rule.value, endpoint, now))
        shown.append({"person_id": profile.person_id, **row})
    if audits:
        with engine.begin() as connection:
            connection.execute(audit_entries.insert(), audits)
    return shown


@dataclass(frozen=True, slots=True)
class Push:
    """One push to disclose: an update (person, event) for a viewer."""

    viewer: Viewer
    person_id: str
    event_id: str
    related_only: bool  # only if the viewer's organisation works with the person now
    endpoint: str  # for the audit: "webhook <subscription>" or "GET /v1/stream"


def disclosed_updates(engine: Engine, pushes: Sequence[Push], *, settings: Settings,
                      now: datetime) -> list[dict[str, Any] | None]:
    """Journey updates as subscribers (webhooks, the live stream) may see them now, each the
    person's journey summary and the timeline entry filtered by the policy, each audited as a
    read. None where it shows the viewer nothing (or, `related_only`, its organisation does not
    work with the person): then nothing is pushed. The policy is asked at push time, not when
    the update happened, so a consent withdrawn in between already shows. Each person and entry
    is loaded once however many subscribers get it, and the audit is one write."""
    people = {p.person_id for p in pushes}
    with engine.connect() as connection:
        states = dict(connection.execute(select(journeys.c.person_id, journeys.c.state)
                                         .where(journeys.c.person_id.in_(people))).all()) if people else {}
        rows = connection.execute(select(timeline_entries).where(
            timeline_entries.c.event_id.in_({p.event_id for p in pushes}))).all() if pushes else []
        reports = connection.execute(
            select(sighting_reports.c.report_id, sighting_reports.c.team, sighting_reports.c.reporter_told_at)
            .where(sighting_reports.c.report_id.in_([r.event_id for r in rows if r.type == "report.received"]))
        ).all()
    found = {person: journey_of(state) for person, state in states.items() if state}
    personal = keyring(engine).personal([(r.event_id, r.personal) for r in rows])
    entries = {r.event_id: TimelineItem.model_validate({**r._mapping, "personal": fields}).model_dump(mode="json")
               for r, fields in zip(rows, personal, strict=True)}
    routed = {r.report_id: (r.team, r.reporter_told_at is not None) for r in reports}
    summaries: dict[str, dict[str, Any]] = {}
    shown: list[dict[str, Any] | None] = []
    audits: list[dict[str, Any]] = []
    for push in pushes:
        journey, entry = found.get(push.person_id), entries.get(push.event_id)
        unrelated = journey is not None and push.related_only and not works_with(journey, push.viewer.organisation)
        if journey is None or entry is None or unrelated:
            shown.append(None)
            continue
        decided = policy.access(push.viewer, journey, now)
        if push.person_id not in summaries:
            fields = summary_fields(journey, now=now, zone=settings.zone,
                                    inactive_after_days=settings.case_inactive_after_days)
            summaries[push.person_id] = JourneyView(**fields).model_dump(mode="json", exclude={"timeline"})
        summary = policy.visible(summaries[push.person_id], JourneyView, decided.categories)
        own = policy.recorded_by(entry, push.viewer)
        shown_entry = None
        if own or Category.CORE in decided.categories:
            team, told = routed.get(push.event_id, (None, True))
            shown_entry = policy.disclose_entry(entry, push.viewer, decided.categories,
                                                reporter=policy.sees_reporter(push.viewer, team, told))
        if not summary and shown_entry is None:
            shown.append(None)
            continue
        seen = set(decided.categories) | ({"own_records"} if own else set())
        audits.append(audit_row(push.viewer, push.person_id, seen, decided.rule.value, push.endpoint, now))
        shown.append({"person": {"person_id": push.person_id, **summary}, "entry": shown_entry})
    if audits:
        with engine.begin() as connection:
            connection.execute(audit_entries.insert(), audits)
    return shown


def disclosed_update(engine: Engine, push: Push, *, settings: Settings, now: datetime) -> dict[str, Any] | None:
    return disclosed_updates(engine, [push], settings=settings, now=now)[0]


def disclosed_referrals(engine: Engine, principal: Principal, rows: Sequence[Any], now: datetime,
                        endpoint: str) -> list[ReferralView]:
    """Referrals as this member's organisation may see them (the ones it made or received), each
    audited as a read of the person's coordination (the referral names them and says why)."""
    shown = [row for row in rows if policy.sees_referral(principal.viewer, row.from_organisation, row.to_organisation)]
    if shown:
        with engine.begin() as connection:
            connection.execute(audit_entries.insert(), [
                audit_row(principal.viewer, row.person_id, {Category.COORDINATION.value}, policy.Rule.REFERRAL.value,
                          endpoint, now) for row in shown])
    return [ReferralView(
        referral_id=UUID(row.referral_id), person_id=UUID(row.person_id), from_organisation=row.from_organisation,
        to_organisation=row.to_organisation, made_at=row.made_at, reason=row.reason,
        categories=[Category(c) for c in row.categories.split(",") if c], expires_at=row.expires_at,
        status=status_now(row, now), answered_at=row.answered_at, decline_reason=row.decline_reason,
    ) for row in shown]


def told_people(engine: Engine, viewer: Viewer, people: Collection[str], now: datetime, *, related_only: bool,
                endpoint: str | None = None) -> frozenset[str]:
    """The people among `people` a subscriber may be told about now (policy.may_be_told): what a
    delivery listing shows and a replay queues. Each person shown is audited under `endpoint`,
    when given (a listing names them)."""
    if not people:
        return frozenset()
    with engine.connect() as connection:
        states = connection.execute(select(journeys.c.person_id, journeys.c.state)
                                    .where(journeys.c.person_id.in_(list(people)))).all()
    shown: dict[str, Access] = {}
    for person, state in states:
        if not state:
            continue
        journey = journey_of(state)
        if policy.may_be_told(viewer, journey, now, related_only=related_only):
            shown[person] = policy.access(viewer, journey, now)
    if endpoint and shown:
        with engine.begin() as connection:
            connection.execute(audit_entries.insert(), [
                audit_row(viewer, person, decided.categories, decided.rule.value, endpoint, now)
                for person, decided in shown.items()])
    return frozenset(shown)


def disclosed_bed_requests(engine: Engine, principal: Principal, rows: Sequence[Mapping[str, Any]], now: datetime,
                           endpoint: str) -> list[dict[str, Any]]:
    """Bed requests as this reader may see them (journey/policy.disclose_bed_request); each one
    that names its person is audited."""
    shown = []
    for row in rows:
        journey = load_journey(engine, row["person_id"])
        decided = access_to(engine, principal, UUID(str(row["person_id"])), journey, now) if journey else None
        # A person not in the read model yet (the request's own events on their way): what the
        # reader's type sees of anyone it has no relationship with.
        allowed = decided.categories if decided else policy.BEFORE_CONSENT[principal.role][0]
        # The asker named the person and chose the bed type itself: its own request, whole.
        own = row["requested_by"] == principal.organisation
        fields = dict(row) if own else policy.disclose_bed_request(row, allowed)
        if fields["person_id"] is not None and decided is not None:
            audit(engine, principal.viewer, row["person_id"], allowed & {Category.COORDINATION, Category.IMMIGRATION},
                  decided.rule.value, endpoint, now)
        shown.append(fields)
    return shown


def disclosed_risk_reports(engine: Engine, principal: Principal, now: datetime, *,
                           limit: int = 50) -> list[RiskReportView]:
    """The risk reports this member's organisation made, newest first, each as the policy shows
    its own records (whole), with its duty-to-refer referral's answer. The organisation recorded
    what it sees, so nothing is audited as a read of someone else's data."""
    viewer = principal.viewer
    with engine.connect() as connection:
        rows = connection.execute(
            select(timeline_entries).where(timeline_entries.c.type == "risk.reported",
                                           timeline_entries.c.source == principal.organisation)
            .order_by(timeline_entries.c.occurred_at.desc()).limit(limit)).mappings().all()
        wanted = [str(duty_to_refer_id(UUID(row["event_id"]))) for row in rows]
        answers = {r.referral_id: r for r in connection.execute(
            select(referrals).where(referrals.c.referral_id.in_(wanted))).all()} if wanted else {}
    shown: list[RiskReportView] = []
    personal = keyring(engine).personal([(row["event_id"], row["personal"]) for row in rows])
    for row, fields in zip(rows, personal, strict=True):
        entry = policy.disclose_entry({**row, "personal": fields}, viewer, frozenset())
        if not policy.recorded_by(entry, viewer):
            continue  # never: the query asked for its own; kept so the policy alone decides
        answer = answers.get(str(duty_to_refer_id(UUID(row["event_id"]))))
        data, personal = entry["data"], entry["personal"]
        shown.append(RiskReportView(
            report_id=UUID(row["event_id"]), reported_at=row["occurred_at"], urgency=data.get("urgency", ""),
            consent_to_refer=bool(data.get("consent_to_refer")), known_as=personal.get("known_as"),
            factors=list(personal.get("factors", ())),
            referred_to=answer.to_organisation if answer else None,
            referral_status=status_now(answer, now) if answer else None,
            answered_at=answer.answered_at if answer else None,
            decline_reason=answer.decline_reason if answer else None,
        ))
    return shown


class NotTheirs(PermissionError):
    """The member may not answer subject access requests, or erase."""


def subject_access(engine: Engine, principal: Principal, person_id: UUID, settings: Settings,
                   now: datetime) -> dict[str, Any] | None:
    """Everything held about a person, for the council's data protection lead to give them: the
    journey with every record merged into it and every timeline entry's personal part (nothing
    about anyone else: journey/policy.for_the_subject), the organisations that work with them,
    their consents and referrals, and every disclosure of their data (who, when, what kinds,
    under which rule; organisations, not staff). The answer itself is audited. None when nothing
    is known of the person."""
    if not policy.may_answer_subject_access(principal.viewer, principal.data_protection_lead):
        raise NotTheirs("subject access requests are answered by the council's data protection lead")
    found = get_journey(engine=engine, person_id=person_id, now=now, zone=settings.zone,
                        inactive_after_days=settings.case_inactive_after_days)
    if found is None:
        return None
    view, journey = found
    records = sorted({str(person_id), *(str(e.person_id) for e in view.timeline)})
    with engine.connect() as connection:
        disclosures = connection.execute(
            select(audit_entries.c.at, audit_entries.c.organisation, audit_entries.c.categories,
                   audit_entries.c.rule, audit_entries.c.endpoint)
            .where(audit_entries.c.person_id.in_(records)).order_by(audit_entries.c.at)).all()
    answer = {
        "person_id": str(person_id),
        "produced_at": now.isoformat(),
        "records": records,
        "journey": policy.for_the_subject(view.model_dump(mode="json")),
        "organisations_working_with_them": [r.model_dump(mode="json") for r in journey.relationships],
        "consents": [c.model_dump(mode="json") for c in journey.consents],
        "referrals": [r.model_dump(mode="json") for r in journey.referrals],
        "disclosures": [{"at": d.at.isoformat(), "organisation": d.organisation,
                         "categories": [c for c in d.categories.split(",") if c], "rule": d.rule,
                         "endpoint": d.endpoint} for d in disclosures],
    }
    audit(engine, principal.viewer, person_id, set(Category) - {Category.REPORTER}, policy.Rule.SUBJECT_ACCESS.value,
          "subject access", now)
    return answer
