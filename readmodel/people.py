"""Reading people's journeys from the read model, and the identity questions about them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, select

from journey.identity import combined
from journey.matching import Match, candidates, compare, could_be_proposed, evidence_keys, match_keys
from journey.state import Journey, contact_point, status_today
from readmodel.data_keys import keyring
from readmodel.profiles import keys_complete, profiles
from readmodel.search_keys import people_with, shared_by
from readmodel.tables import journeys, timeline_entries
from schemas.views import JourneyView, TimelineItem


def load_journey(engine: Engine, person_id: UUID | str) -> Journey | None:
    return load_journeys(engine, [str(person_id)]).get(str(person_id))


def load_journeys(engine: Engine, people: Collection[str]) -> dict[str, Journey]:
    """The journeys of these records that the read model holds, by id (one statement)."""
    if not people:
        return {}
    with engine.connect() as connection:
        rows = connection.execute(select(journeys.c.person_id, journeys.c.state)
                                  .where(journeys.c.person_id.in_(list(people)))).all()
    return {row.person_id: journey_of(row.state) for row in rows if row.state}


def journey_of(state: dict[str, Any]) -> Journey:
    """A journey as the read model keeps it (the `state` column)."""
    # Rows written before a field was dropped (e.g. recent_event_ids) still load.
    return Journey.model_validate({k: v for k, v in state.items() if k in Journey.model_fields})


def absorbed(engine: Engine, journey: Journey) -> list[Journey]:
    """Every record merged into this one, and those merged into them."""
    found: list[Journey] = []
    waiting, seen = list(journey.merged), {journey.person_id}
    while waiting:
        person_id = waiting.pop()
        if person_id in seen:
            continue
        seen.add(person_id)
        other = load_journey(engine, person_id)
        if other is not None:
            found.append(other)
            waiting.extend(other.merged)
    return found


def person_as_one(engine: Engine, journey: Journey) -> Journey:
    """The kept record's journey combined with every record merged into it: whoever works with
    any of them works with the person (a walk-in a partner recorded, merged by outreach, keeps
    the partner's relationship)."""
    return combined(journey, absorbed(engine, journey))


def summary_fields(journey: Journey, *, now: datetime, zone: tzinfo, inactive_after_days: int) -> dict[str, Any]:
    """The journey view's fields that come from the journey state alone (not its timeline): the
    whole view's head, and the summary pushed to partners with each update."""
    return {
        **contact_point(journey),
        **journey.model_dump(include={
            "person_id", "stage", "provisional", "first_seen", "last_seen", "last_contact", "last_area", "reports",
            "contacts", "open_reports", "accommodation", "training", "work", "duty", "duty_outcomes", "case",
            "merged_into", "merged",
        }),
        "status": status_today(journey, now=now, zone=zone, inactive_after_days=inactive_after_days),
        "rough_sleeping_nights": len(journey.rough_sleeping_nights),
        "emergency_bed_nights": len(journey.emergency_bed_nights),
    }


def get_journey(*, engine: Engine, person_id: UUID, now: datetime, zone: tzinfo,
                inactive_after_days: int) -> tuple[JourneyView, Journey] | None:
    """The journey of one person with its whole timeline, and the combined journey state it
    came from; None if nothing is known. Whole: readmodel/sharing.py decides what a reader sees."""
    # The journey rows and the timeline are read by separate statements while the worker writes
    # both: a batch committed between them would give a timeline ahead of the counts. Read again
    # until the journeys read are still the newest (a batch is one transaction, so then they agree).
    for _attempt in range(5):
        own = load_journey(engine, person_id)
        if own is None:
            return None
        others = absorbed(engine, own)
        people = [str(person_id), *(str(o.person_id) for o in others)]
        with engine.connect() as connection:
            entries = connection.execute(
                select(timeline_entries)
                .where(timeline_entries.c.person_id.in_(people))
                .order_by(timeline_entries.c.occurred_at, timeline_entries.c.sequence)
            ).all()
            sequences = dict(connection.execute(
                select(journeys.c.person_id, journeys.c.sequence).where(journeys.c.person_id.in_(people))).all())
        if all(sequences.get(str(j.person_id)) == j.sequence for j in (own, *others)):
            break
    journey = combined(own, others)
    personal = keyring(engine).personal([(entry.event_id, entry.personal) for entry in entries])
    timeline = [TimelineItem.model_validate({**entry._mapping, "personal": fields})
                for entry, fields in zip(entries, personal, strict=True)]
    strengths = next((e for e in reversed(timeline) if e.type == "case.strengths_recorded"), None)
    step = next((e.personal["next_step"] for e in reversed(timeline) if e.personal.get("next_step")), None)
    return JourneyView(
        **summary_fields(journey, now=now, zone=zone, inactive_after_days=inactive_after_days),
        events=len(timeline),
        strengths=list(strengths.personal.get("strengths", ())) if strengths else [],
        goals=list(strengths.personal.get("goals", ())) if strengths else [],
        next_step=step,
        timeline=timeline,
    ), journey


def proposed_matches(engine: Engine, person_id: UUID, now: datetime) -> list[Match] | None:
    target = profiles(engine, only=[str(person_id)]).get(person_id)
    if target is None:
        return None
    # Only the records that share a name's key or the date of birth can be proposed (match_keys),
    # and of those only the ones whose other shared keys could bring the score to PROPOSE_AT
    # are opened (a common name has thousands that share only a name's key).
    named = people_with(engine, [match_keys(replace(target, date_of_birth=None))], now)
    born = people_with(engine, [{f"b:{target.date_of_birth}"}], now) if target.date_of_birth else set()
    found = (named | born) - {str(person_id)}
    if keys_complete(engine):
        shared = shared_by(engine, found, evidence_keys(target), now)
        found = {person for person in found if could_be_proposed(target, person in named, shared.get(person, ()))}
    return candidates(target, list(profiles(engine, only=found).values()))


def explain_match(engine: Engine, person_id: UUID, other: UUID) -> Match | None:
    pair = profiles(engine, only=[str(person_id), str(other)])
    if person_id not in pair or other not in pair:
        return None
    return compare(pair[person_id], pair[other])


def as_dict(match: Match) -> dict[str, Any]:
    return {"person_id": match.person_id, "other": match.other, "score": match.score,
            "proposed": match.proposed, "reasons": list(match.reasons)}
