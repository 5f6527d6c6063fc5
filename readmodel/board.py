"""The board's month's flow, kept in the read model.

The flow (CHAIN this month against last, Built for Zero's eight weeks, referrals, prevention)
reads the statistics projection: 1.4 s of CPU at 1,000,000 events over ten years, 4 s in the
benchmark's dense town of 100,000 (docs/benchmarks.md). Too long for a page to wait, and in an
API process it would hold the one Python lock while submissions wait. So a board that finds the
kept figures older than a minute asks for new ones (`kept_flow`, given the last meanwhile); one
worker claims the asking (`claim`), works the flow out in a process of its own
(streams/month_flow.py) and keeps it (`keep`). One working-out a minute at most for the whole
deployment, none while no board is open, and every API process reads the same figures.

Counts only, before the viewer's small-number rule (applied when shown, as for every figure)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update

from journey.statistics import Rules
from readmodel.statistics import statistics
from readmodel.tables import board_flow
from readmodel.writes import dialect_insert

NAME = "month"
WEEK = 7
FLOW_WEEKS = 8
PREVENTION_NIGHTS = 28
CHAIN_SHOWN = (("seen", "Seen sleeping rough"), ("new", "New"), ("stock", "Seen the month before too"),
               ("returner", "Returned after a gap"), ("living_on_streets", "Living on the streets"))
_flow = board_flow.c


def month_flow(engine: Engine, rules: Rules, night: date) -> dict[str, Any]:
    """This month's CHAIN flow against last month's, Built for Zero's active count, and its
    inflow and outflow for each of the last eight weeks, as of `night` (the definitions of
    journey/statistics.py, read from the statistics projection, exact)."""
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


def kept_flow(engine: Engine, now: datetime, fresh_for: timedelta) -> dict[str, Any] | None:
    """The flow last worked out (None before the first), asking a worker for a new one when it
    is older than `fresh_for` and nobody has asked since it was worked out."""
    with engine.connect() as connection:
        row = connection.execute(select(_flow.figures, _flow.worked_out_at, _flow.wanted_at)
                                 .where(_flow.name == NAME)).first()
    worked = row.worked_out_at if row is not None else None
    asked = row.wanted_at if row is not None else None
    if (worked is None or now - worked > fresh_for) and (asked is None or (worked is not None and asked <= worked)):
        insert = dialect_insert(engine)(board_flow).values(name=NAME, wanted_at=now)
        with engine.begin() as connection:
            connection.execute(insert.on_conflict_do_update(index_elements=[_flow.name], set_={"wanted_at": now}))
    figures = row.figures if row is not None else None
    return json.loads(figures) if figures else None


def claim(engine: Engine, now: datetime, working_for: timedelta) -> bool:
    """Whether this worker is to work the flow out now: a board asked for it since it was last
    worked out, and no other worker claimed it less than `working_for` ago (one that failed, or
    stopped, lets another try after that)."""
    with engine.connect() as connection:
        row = connection.execute(select(board_flow).where(_flow.name == NAME)).first()
    if row is None or row.wanted_at is None or (row.worked_out_at is not None and row.wanted_at <= row.worked_out_at):
        return False
    if row.working_since is not None and now - row.working_since < working_for:
        return False
    unchanged = _flow.working_since.is_(None) if row.working_since is None else _flow.working_since == row.working_since
    with engine.begin() as connection:
        # Only the worker whose claim finds the row as it read it wins.
        return connection.execute(update(board_flow).where(_flow.name == NAME, unchanged)
                                  .values(working_since=now)).rowcount == 1


def keep(engine: Engine, figures: dict[str, Any], worked_out_at: datetime) -> None:
    """Keep the flow worked out from the read model as it was at `worked_out_at`."""
    with engine.begin() as connection:
        connection.execute(update(board_flow).where(_flow.name == NAME)
                           .values(figures=json.dumps(figures), worked_out_at=worked_out_at, working_since=None))
