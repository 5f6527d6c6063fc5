"""Writes applied events into the SQL read model, idempotently, one transaction per batch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine, bindparam, or_
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql, sqlite

from journey.applied import Applied
from journey.statistics import Rules
from readmodel.erasure import forget_reporters
from readmodel.profiles import profile_updates
from readmodel.profiles import upsert as upsert_profiles
from readmodel.search_keys import new_keys
from readmodel.statistics import statistics_updates
from readmodel.tables import (
    identity_decisions,
    journeys,
    referrals,
    sighting_reports,
    timeline_entries,
)
from readmodel.writes import dialect_insert, upsert_newer, write_many
from schemas.events import ReferralRecorded, ReportProgressed, ReportReceived
from schemas.sealed import stored_form

_entry = timeline_entries.c
_ENTRY_FIXED = ("person_id", "type", "source", "occurred_at", "recorded_at", "data", "personal")
_MOVE_ENTRY = (
    sql_update(timeline_entries)
    .where(_entry.event_id == bindparam("id"), _entry.sequence < bindparam("new_sequence"))
    .values(sequence=bindparam("new_sequence"), stage=bindparam("new_stage"), summary=bindparam("new_summary"))
)
_report = sighting_reports.c
_this_report = _report.report_id == bindparam("report")
_REPORT_STEPS = {
    "report.routed": sql_update(sighting_reports).where(_this_report).values(
        team=bindparam("team_"), due_by=bindparam("due_")),
    # The first attempt counts for the response time, whatever order attempts arrive in.
    "report.attempted": sql_update(sighting_reports).where(
        _this_report, or_(_report.first_attempt_at.is_(None), _report.first_attempt_at > bindparam("at"))
    ).values(first_attempt_at=bindparam("at")),
    "report.outcome": sql_update(sighting_reports).where(_this_report).values(
        outcome=bindparam("outcome_"), outcome_at=bindparam("at")),
    "report.reporter_told": sql_update(sighting_reports).where(_this_report).values(
        reporter_told_at=bindparam("at")),
}


def project(engine: Engine, updates: Sequence[Applied], now: datetime, rules: Rules) -> None:
    """Store a batch of updates in a transaction of its own. Replaying any of them changes nothing."""
    if updates:
        with engine.begin() as connection:
            project_into(connection, updates, now, rules)


def _journey_row(update: Applied, now: datetime) -> dict[str, Any]:
    """The journeys row of a person's newest update (its JSON made once per history, not again)."""
    journey = update.journey
    return {
        "person_id": str(journey.person_id),
        "sequence": journey.sequence,
        "stage": journey.stage.value,
        "first_seen": journey.first_seen,
        "last_seen": journey.last_seen,
        "last_area": journey.last_area,
        "reports": journey.reports,
        "contacts": journey.contacts,
        "rough_sleeping_nights": len(journey.rough_sleeping_nights),
        "emergency_bed_nights": len(journey.emergency_bed_nights),
        "provisional": int(journey.provisional),
        "merged_into": str(journey.merged_into) if journey.merged_into else None,
        "state": update.history.journey_json if update.history and update.history.journey is journey
        else journey.model_dump_json(),
        "updated_at": now,
    }


def project_into(connection: Connection, updates: Sequence[Applied], now: datetime, rules: Rules) -> None:
    """Store a batch of updates in the caller's transaction. Replaying any of them changes nothing."""
    # Rows are built from attributes, and JSON columns get JSON text from pydantic's serialiser:
    # per-row model dumps to Python values were most of the projector's cost.
    entries = [
        {
            "event_id": str(entry.event_id), "person_id": str(entry.person_id), "sequence": entry.sequence,
            "type": entry.type, "occurred_at": entry.occurred_at, "recorded_at": entry.recorded_at,
            "source": entry.source, "summary": entry.summary, "stage": entry.stage.value,
            "data": update.event.data.model_dump_json(),
            # Sealed, the boxes as they came (schemas/sealed.py): the read model holds no personal data in clear.
            "personal": json.dumps(stored_form(update.event.sealed)) if update.event.sealed
            else update.event.personal.model_dump_json(exclude_none=True),
        }
        for update in updates if not update.refolded for entry in (update.entry,)
    ]
    # A late event moved these entries along: their place and stage change, nothing else.
    moved = [
        {"id": str(u.entry.event_id), "new_sequence": u.entry.sequence, "new_stage": u.entry.stage.value,
         "new_summary": u.entry.summary}
        for u in updates if u.refolded
    ]
    # Only the newest state of each person in the batch is written, and only its row is made (a
    # row's journey JSON is made once per history: those of a person's earlier updates were not).
    newest: dict[UUID, Applied] = {}
    for update in updates:
        person = update.journey.person_id
        if person not in newest or newest[person].journey.sequence < update.journey.sequence:
            newest[person] = update
    latest = [_journey_row(update, now) for update in newest.values()]
    # The event id is the key; a newer place (a late event arrived before it) wins, an older
    # redelivered one changes nothing. What the entry is (its person, source, type, times, data
    # and personal part) never changes: a second event under a known id must not relabel it.
    upsert_newer(connection, timeline_entries, ["event_id"], entries, keep=_ENTRY_FIXED)
    write_many(connection, _MOVE_ENTRY, moved)
    # An older update redelivered after a newer one must not roll the journey back.
    upsert_newer(connection, journeys, ["person_id"], latest)
    grown, gained = profile_updates(connection, updates, now)
    write_many(connection, upsert_profiles(connection.dialect.name), grown)
    write_many(connection, new_keys(connection.dialect.name), gained)
    statistics_updates(connection, updates, rules)
    _project_reports(connection, [u.event for u in updates])
    _project_referrals(connection, [newest[u.journey.person_id] for u in updates
                                    if isinstance(u.event, ReferralRecorded)])


def _project_referrals(connection: Connection, updates: Sequence[Applied]) -> None:
    """The referrals of each person a referral event of the batch was about, as their newest
    journey holds them (a handful a person: written whole, never rolled back)."""
    rows = {}
    for update in updates:
        journey = update.journey
        for referral in journey.referrals:
            rows[referral.referral_id] = {
                "referral_id": str(referral.referral_id), "person_id": str(journey.person_id),
                "from_organisation": referral.from_organisation, "to_organisation": referral.to_organisation,
                "made_at": referral.made_at, "reason": referral.reason, "categories": ",".join(referral.categories),
                "expires_at": referral.expires_at, "status": referral.status, "answered_at": referral.answered_at,
                "decline_reason": referral.decline_reason, "sequence": journey.sequence,
            }
    upsert_newer(connection, referrals, ["referral_id"], list(rows.values()))


@lru_cache
def _new_reports(dialect: str) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert(sighting_reports).on_conflict_do_nothing()


def _project_reports(connection: Connection, events: Sequence[Any]) -> None:
    """Each step of a report sets its own columns, so replaying a step writes the same values."""
    received = [
        {
            "report_id": str(e.id), "person_id": str(e.subject), "organisation": e.source,
            "channel": e.data.channel.value, "area_code": e.data.area_code, "received_at": e.time,
            "wants_update": int(e.data.wants_update),
        }
        for e in events if isinstance(e, ReportReceived)
    ]
    write_many(connection, _new_reports(connection.dialect.name), received)
    # One statement per kind of step, run for all of the batch's steps of that kind (compiling a
    # statement per event cost more than the write).
    steps: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if isinstance(event, ReportProgressed):
            data = event.data
            steps.setdefault(event.type, []).append({
                "report": str(data.report_id), "at": event.time, "team_": data.team, "due_": data.due_by,
                "outcome_": data.outcome.value if data.outcome else None,
            })
    for step, rows in steps.items():
        write_many(connection, _REPORT_STEPS[step], rows)
    if told := [row["report"] for row in steps.get("report.reporter_told", ())]:
        # Once told the outcome, nobody needs the reporter's contact details.
        forget_reporters(connection, told, datetime.now(UTC))


def record_verdicts(engine: Engine, verdicts: Sequence[dict[str, Any]], now: datetime) -> None:
    """Store identity decisions' verdicts; a verdict given again (a redelivery) changes nothing."""
    if verdicts:
        with engine.begin() as connection:
            insert = dialect_insert(connection.engine)(identity_decisions)
            connection.execute(insert.on_conflict_do_nothing(), list(verdicts))
