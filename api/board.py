"""The board's live picture of the town centre: counts only, never a person. Every figure goes
through the policy's small-number rule for the viewer's kind of organisation."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections import defaultdict
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import Engine, select

from api.beds import availability, tonight
from api.reports import count_overdue
from journey.nights import night_of, night_starts
from journey.policy import safe_statistics
from journey.statistics import Rules
from readmodel.database import read_model
from readmodel.statistics import statistics
from readmodel.tables import sighting_reports, timeline_entries
from schemas.settings import Settings
from schemas.sharing import OrganisationType

log = logging.getLogger("journeys.board")
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


# ---------------------------------------------------------------- the month's flow

FLOW_WEEKS = 8
CHAIN_SHOWN = (("seen", "Seen sleeping rough"), ("new", "New"), ("stock", "Seen the month before too"),
               ("returner", "Returned after a gap"), ("living_on_streets", "Living on the streets"))


PREVENTION_NIGHTS = 28


def month_flow(engine: Engine, settings: Settings, now: datetime) -> dict[str, Any]:
    """This month's CHAIN flow against last month's, Built for Zero's active count, and its
    inflow and outflow for each of the last eight weeks (the definitions of journey/statistics.py,
    read from the statistics projection, exact: the viewer's suppression is applied when shown)."""
    rules = Rules.configured(settings)
    night = tonight(now, settings)
    after = night + timedelta(days=1)
    first = night.replace(day=1)
    before = (first - timedelta(days=1)).replace(day=1)
    weeks = [after - timedelta(days=WEEK * k) for k in range(FLOW_WEEKS, 0, -1)]
    this_month = statistics(engine, start=first, end=after, area=None, rules=rules, figures=("chain", "referrals"))
    last_month = statistics(engine, start=before, end=first, area=None, rules=rules, figures=("chain",))
    flows = statistics(engine, periods=[(start, start + timedelta(days=WEEK)) for start in weeks], area=None,
                       rules=rules, figures=("built_for_zero",))
    # Eyes and ears over the last 28 nights (a month so far is empty on its first day).
    eyes = statistics(engine, start=night - timedelta(days=PREVENTION_NIGHTS - 1), end=after, area=None, rules=rules,
                      figures=("prevention",))
    return {
        "month": f"{first:%B}", "last_month": f"{before:%B}",
        "chain": [{"measure": label, "this": this_month["chain"][key], "last": last_month["chain"][key]}
                  for key, label in CHAIN_SHOWN],
        "active": flows[-1]["built_for_zero"]["active"],
        "weeks": [{"week": f"{f['start']:%-d %b}", "inflow": f["built_for_zero"]["inflow"],
                   "outflow": f["built_for_zero"]["outflow"]} for f in flows],
        # Counts only: made, accepted, declined, withdrawn, and the median hours to an acceptance.
        "referrals": this_month["referrals"],
        "prevention": eyes["prevention"],
        "prevention_nights": PREVENTION_NIGHTS,
    }


def _month_flow_apart(settings: Settings, now: datetime) -> dict[str, Any]:
    """month_flow in a process of its own, with its own connection."""
    engine = read_model(settings)
    try:
        return month_flow(engine, settings, now)
    finally:
        engine.dispose()


@dataclass
class FlowKeeper:
    """The month's flow, worked out apart and kept in the API process. It reads the statistics
    projection (1.4 s of CPU at 1,000,000 events over ten years, 4 s in the benchmark's dense
    town of 100,000: docs/benchmarks.md), so no page waits for it, and it runs in a process of
    its own: in a thread it would hold the API's one Python lock for that time, and every
    submission would wait. A board asking for figures older than `fresh_for` seconds starts one
    new working-out and is given the last (monthly and weekly figures: a minute old is fresh)."""

    fresh_for: float = 60.0
    figures: dict[str, Any] | None = None
    worked_out_at: float = float("-inf")
    working: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    apart: ProcessPoolExecutor | None = None

    def latest(self, engine: Engine, settings: Settings, now: datetime) -> dict[str, Any] | None:
        with self.lock:
            start = not self.working and time.monotonic() - self.worked_out_at > self.fresh_for
            if start:
                self.working = True
                if self.apart is None:
                    # A fresh interpreter: forking the API would copy its threads' locks mid-use.
                    self.apart = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            figures, apart = self.figures, self.apart
        if start and apart is not None:
            # Outside the lock: a callback on a future already done runs at once, in this thread.
            apart.submit(_month_flow_apart, settings, now).add_done_callback(
                self._worked_out)
        return figures

    def _worked_out(self, future: Future[dict[str, Any]]) -> None:
        with self.lock:
            self.working = False
            if future.cancelled() or future.exception() is not None:
                log.warning("the board's month's flow could not be worked out: %r",
                            None if future.cancelled() else type(future.exception()).__name__)
                return
            self.figures, self.worked_out_at = future.result(), time.monotonic()

    def close(self) -> None:
        if self.apart is not None:
            self.apart.shutdown(wait=False, cancel_futures=True)


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
