"""The board's live picture of the town centre: counts only, never a person. Every figure goes
through the policy's small-number rule for the viewer's kind of organisation."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from api.beds import availability, tonight
from api.reports import overdue_reports
from deploy.settings import Settings
from journey.nights import night_of, night_starts
from journey.policy import safe_statistics
from schemas.read_model import sighting_reports, timeline_entries
from schemas.sharing import OrganisationType

WEEK = 7


def figures(engine: Engine, settings: Settings, now: datetime, viewer: OrganisationType) -> dict[str, Any]:
    zone = settings.zone
    night = tonight(now, settings)
    last_night = night - timedelta(days=1)
    first = last_night - timedelta(days=WEEK - 1)
    with engine.connect() as connection:
        contacts = connection.execute(
            select(timeline_entries.c.person_id, timeline_entries.c.occurred_at, timeline_entries.c.data)
            .where(timeline_entries.c.type == "contact.recorded",
                   timeline_entries.c.occurred_at >= night_starts(first, zone),
                   timeline_entries.c.occurred_at < night_starts(night + timedelta(days=1), zone))).all()
        reports = connection.execute(
            select(sighting_reports.c.received_at, sighting_reports.c.first_attempt_at, sighting_reports.c.outcome)
            .where(sighting_reports.c.received_at >= night_starts(night - timedelta(days=28), zone))).all()
    seen: dict[str, dict[str, set[str]]] = defaultdict(lambda: {"last_night": set(), "week": set(), "tonight": set()})
    for row in contacts:
        data = row.data or {}
        if not data.get("bedded_down"):
            continue
        area = data.get("area_code") or "unknown"
        when = night_of(row.occurred_at, zone)
        if when == night:
            seen[area]["tonight"].add(row.person_id)
        if when == last_night:
            seen[area]["last_night"].add(row.person_id)
        if first <= when <= last_night:
            seen[area]["week"].add(row.person_id)
    waits = [(r.first_attempt_at - r.received_at).total_seconds() / 3600 for r in reports if r.first_attempt_at]
    beds = availability(engine, night)
    shown = {
        "seen": [{"area": area, "tonight": len(s["tonight"]), "last_night": len(s["last_night"]),
                  "week": len(s["week"])} for area, s in sorted(seen.items())],
        "beds": [{"provider": p.name, "free": p.free, "allocated": sum(b.allocated for b in p.beds),
                  "checked_in": sum(b.checked_in for b in p.beds), "waiting": p.waitlisted} for p in beds.providers],
        "reports": {"open": sum(1 for r in reports if r.outcome is None),
                    "overdue": len(overdue_reports(engine, now=now)), "attempted": len(waits),
                    "hours_to_first_attempt_median": round(statistics.median(waits), 1) if waits else None},
    }
    return {"night": night, "last_night": last_night, **safe_statistics(shown, viewer)}
