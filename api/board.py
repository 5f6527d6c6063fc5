"""The board's live picture of the town centre: counts only, never a person. Every figure goes
through the policy's small-number rule for the viewer's kind of organisation."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import Engine, select

from api.beds import availability, tonight
from api.reports import count_overdue
from journey.nights import night_of, night_starts
from journey.policy import safe_statistics
from readmodel.tables import sighting_reports, timeline_entries
from schemas.settings import Settings
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
                    "overdue": count_overdue(engine, now=now), "attempted": len(waits),
                    "hours_to_first_attempt_median": round(median(waits), 1) if waits else None},
    }
    return {"night": night, "last_night": last_night, **safe_statistics(shown, viewer, keep_zeros=True)}


def chart_bars(weeks: list[dict[str, Any]], width: int = 480, height: int = 220) -> dict[str, Any]:
    """The weekly inflow and outflow as bar geometry for the board's SVG. A suppressed count
    ("<5") is drawn as a stub with its label, never as a guessed height."""
    def number(value: Any) -> float:
        return float(value) if isinstance(value, int) else 0.0

    top = max([number(w[k]) for w in weeks for k in ("inflow", "outflow")] + [1.0])
    slot = width / max(len(weeks), 1)
    bar = slot * 0.36
    plot = height - 40  # room for the week labels and the values above the bars
    drawn = []
    for i, w in enumerate(weeks):
        for j, key in enumerate(("inflow", "outflow")):
            tall = max(number(w[key]) / top * plot, 2.0)
            x = i * slot + slot * 0.12 + j * bar
            drawn.append({"key": key, "x": round(x, 1), "y": round(height - 20 - tall, 1), "w": round(bar - 2, 1),
                          "h": round(tall, 1), "label": str(w[key]), "label_x": round(x + bar / 2 - 1, 1),
                          "label_y": round(height - 24 - tall, 1)})
    labels = [{"x": round(i * slot + slot / 2, 1), "text": w["week"]} for i, w in enumerate(weeks)]
    return {"width": width, "height": height, "bars": drawn, "labels": labels, "base": height - 20}
