"""Erasure (UK GDPR art. 17): a person's personal data removed from everywhere it went, an
append-only log included, by destroying the data keys that sealed it (schemas/sealed.py).

What is erased: every personal part said about the person, on every record of theirs (merged
into the one named, or linked to it), and the details of everyone who reported them. What stays:
the non-personal facts (stages, nights, counts, who recorded what and when), so the statistics
do not change, and the record that an erasure was made, with its ground and reference. The
stages' compacted changelogs keep journeys without their personal parts, so they need no
tombstones: nothing in them is personal (tests/integration/test_canary.py scans them)."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, Engine, Select, bindparam, select, update

from journey.policy import Rule, Viewer, may_erase
from journey.state import Journey
from readmodel.data_keys import destroy_keys, keyring, reporter_subject
from readmodel.people import absorbed, load_journey
from readmodel.profiles import forget as forget_profiles
from readmodel.sharing import NotTheirs
from readmodel.tables import audit_entries, erasures, sighting_reports, timeline_entries
from schemas.sealed import REPORTER, SEALED, sealed_keys
from schemas.sharing import Category, OrganisationType


class Ground(StrEnum):
    """Why the data is erased: the grounds of UK GDPR art. 17(1), and the retention schedule."""

    NO_LONGER_NECESSARY = "no_longer_necessary"  # (a)
    CONSENT_WITHDRAWN = "consent_withdrawn"  # (b)
    OBJECTION = "objection"  # (c)
    UNLAWFULLY_PROCESSED = "unlawfully_processed"  # (d)
    LEGAL_OBLIGATION = "legal_obligation"  # (e)
    RETENTION_SCHEDULE = "retention_schedule"  # the schedule's years after a case closed


@dataclass(frozen=True, slots=True)
class Erased:
    """What one erasure did, in counts (nothing personal)."""

    erasure_id: UUID
    records: list[str]
    keys_destroyed: int
    entries_emptied: int
    reports: int


def erase_person(engine: Engine, viewer: Viewer, data_protection_lead: bool, person_id: UUID, *,
                 ground: Ground, reference: str, now: datetime) -> Erased | None:
    """Erase everything personal about a person, on every record of theirs, at their data
    protection lead's decision; None when nobody is known by this id."""
    if not may_erase(viewer, data_protection_lead):
        raise NotTheirs("erasure is made by the council's data protection lead")
    named = load_journey(engine, person_id)
    if named is None:
        return None
    root = (load_journey(engine, named.merged_into) if named.merged_into else None) or named
    return _erase(engine, root, ground=ground, reference=reference, by=viewer, now=now)


def erase_reporter(engine: Engine, viewer: Viewer, data_protection_lead: bool, report_id: UUID, *,
                   ground: Ground, reference: str, now: datetime) -> Erased | None:
    """Erase the details of a report's reporter, when the reporter asks (the report stays);
    None when no such report is known."""
    if not may_erase(viewer, data_protection_lead):
        raise NotTheirs("erasure is made by the council's data protection lead")
    erasure_id, subject = uuid4(), reporter_subject(report_id)
    keyring(engine).bind()
    with engine.begin() as connection:
        person = connection.execute(select(sighting_reports.c.person_id).where(
            sighting_reports.c.report_id == str(report_id))).scalar()
        if person is None:
            return None
        emptied, destroyed = _forget_reporters(connection, [str(report_id)], now)
        connection.execute(erasures.insert().values(
            erasure_id=str(erasure_id), subject=subject, ground=ground.value, reference=reference,
            organisation=viewer.organisation, member_id=viewer.member, at=now, records=0,
            keys_destroyed=len(destroyed), entries_emptied=emptied))
        connection.execute(audit_entries.insert().values(
            at=now, member_id=viewer.member, organisation=viewer.organisation, person_id=person,
            categories=Category.REPORTER.value, rule=Rule.ERASURE.value, endpoint=f"erasure {erasure_id}"))
    keyring(engine).forget(destroyed, [subject])
    return Erased(erasure_id, [], len(destroyed), emptied, 1)


# Who erases on the schedule's behalf, in the erasures and the audit.
SCHEDULE = Viewer(member="retention-schedule", organisation="journeys", type=OrganisationType.COUNCIL)


def erase_closed_cases(engine: Engine, closed_before: datetime, now: datetime) -> int:
    """Erase the personal data of everyone whose case closed before `closed_before` and was not
    reopened (the retention schedule's years); each person once. How many were erased."""
    with engine.connect() as connection:
        closing = {p for (p,) in connection.execute(select(timeline_entries.c.person_id).where(
            timeline_entries.c.type == "case.closed", timeline_entries.c.occurred_at < closed_before))}
        done = {p for (p,) in connection.execute(select(erasures.c.subject).where(
            erasures.c.ground == Ground.RETENTION_SCHEDULE.value))}
    erased = 0
    for person in sorted(closing - done):
        journey = load_journey(engine, UUID(person))
        closed_at = journey.case.closed_at if journey else None
        if journey is None or journey.merged_into or closed_at is None or closed_at >= closed_before:
            continue  # reopened, or merged: the record it joined decides
        _erase(engine, journey, ground=Ground.RETENTION_SCHEDULE, reference="retention-schedule", by=SCHEDULE,
               now=now)
        erased += 1
    return erased


def _erase(engine: Engine, root: Journey, *, ground: Ground, reference: str, by: Viewer, now: datetime) -> Erased:
    """One transaction: the keys destroyed, the read model's personal parts emptied, the erasure
    recorded and audited, or none of it."""
    records = sorted({str(root.person_id), *(str(j.person_id) for j in absorbed(engine, root)),
                      *(str(p) for p in root.linked)})
    erasure_id = uuid4()
    keyring(engine).bind()  # this process's newest keys, found by subject too
    with engine.begin() as connection:
        reports = [r for (r,) in connection.execute(
            select(sighting_reports.c.report_id).where(sighting_reports.c.person_id.in_(records)))]
        stored = connection.execute(select(timeline_entries.c.personal)
                                    .where(timeline_entries.c.person_id.in_(records))).scalars().all()
        # Every key that sealed something about them, whoever's subject it was made for (an event
        # that named a record before it was merged, say): the keys follow the records.
        sealing: set[str] = set().union(*(sealed_keys(s) for s in stored if isinstance(s, dict)))
        subjects = [*records, *(reporter_subject(r) for r in reports)]
        destroyed = destroy_keys(connection, now, subjects=subjects, key_ids=sealing)
        connection.execute(update(timeline_entries).where(timeline_entries.c.person_id.in_(records))
                           .values(personal="{}"))  # JSON text, as the column takes it
        forget_profiles(connection, records)
        emptied = sum(1 for s in stored if s)
        connection.execute(erasures.insert().values(
            erasure_id=str(erasure_id), subject=str(root.person_id), ground=ground.value, reference=reference,
            organisation=by.organisation, member_id=by.member, at=now, records=len(records),
            keys_destroyed=len(destroyed), entries_emptied=emptied))
        connection.execute(audit_entries.insert(), [{
            "at": now, "member_id": by.member, "organisation": by.organisation, "person_id": record,
            "categories": ",".join(sorted(Category)), "rule": Rule.ERASURE.value,
            "endpoint": f"erasure {erasure_id}"} for record in records])
    keyring(engine).forget(destroyed, subjects)
    return Erased(erasure_id, records, len(destroyed), emptied, len(reports))


def forget_reporters(connection: Connection, report_ids: Collection[str] | Select[Any], now: datetime) -> int:
    """Forget the reporters of these reports: their keys are destroyed (so their details cannot
    be opened from any topic or copy) and their boxes leave the reports' entries, which keep
    everything else; how many reports had a reporter's details. Used once a reporter is told
    the outcome (the projector) and when the schedule's days pass."""
    return _forget_reporters(connection, report_ids, now)[0]


def _forget_reporters(connection: Connection, report_ids: Collection[str] | Select[Any],
                      now: datetime) -> tuple[int, list[str]]:
    rows = connection.execute(select(timeline_entries.c.event_id, timeline_entries.c.personal)
                              .where(timeline_entries.c.event_id.in_(report_ids))).all()
    # A reporter's box says so: its key is destroyed whether or not whose it is was written yet.
    boxes = [part["key"] for row in rows if isinstance(row.personal, dict)
             for part in row.personal.get(SEALED, ()) if part.get("of") == "reporter"]
    destroyed = set(destroy_keys(connection, now, subjects=[reporter_subject(r.event_id) for r in rows],
                                 key_ids=boxes))
    keyring(connection.engine).forget(destroyed)
    kept = []
    for row in rows:
        stored = row.personal if isinstance(row.personal, dict) else {}
        if SEALED in stored:
            parts = [part for part in stored[SEALED] if part["key"] not in destroyed and part.get("of") != "reporter"]
            if len(parts) < len(stored[SEALED]):
                kept.append({"id": row.event_id, "kept": json.dumps({SEALED: parts})})
        elif REPORTER in stored:  # sealed parts began with stop 36: an older entry is in clear
            kept.append({"id": row.event_id, "kept": json.dumps({k: v for k, v in stored.items() if k != REPORTER})})
    if kept:
        connection.execute(update(timeline_entries).where(timeline_entries.c.event_id == bindparam("id"))
                           .values(personal=bindparam("kept")), kept)
    if rows:  # so that the schedule does not read them again every run
        connection.execute(update(sighting_reports).where(sighting_reports.c.report_id == bindparam("id"))
                           .values(reporter_forgotten_at=now), [{"id": r.event_id} for r in rows])
    return len(kept), sorted(destroyed)
