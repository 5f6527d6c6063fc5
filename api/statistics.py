"""Loading the facts statistics need from the read model: non-personal columns, and of a risk
report's personal part only its factor codes (counted, never shown by person)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from journey.statistics import Fact, Rules, all_statistics, people_as_one
from readmodel.data_keys import keyring
from readmodel.tables import journeys, timeline_entries


def load_facts(engine: Engine, until: datetime) -> list[Fact]:
    """Every event up to `until`, with all the records of one person under one id."""
    table = timeline_entries.c
    with engine.connect() as connection:
        rows = connection.execute(
            select(table.event_id, table.person_id, table.type, table.occurred_at, table.data, table.source)
            .where(table.occurred_at < until)
        ).all()
        # A risk report's factors are in its personal part: only their codes are read, to count.
        risks = connection.execute(select(table.event_id, table.personal)
                                   .where(table.type == "risk.reported", table.occurred_at < until)).all()
        opened = keyring(engine).personal([(r.event_id, r.personal) for r in risks], connection)
        factors = {r.event_id: fields.get("factors", []) for r, fields in zip(risks, opened, strict=True)}
        states = connection.execute(select(journeys.c.person_id, journeys.c.state)).all()
    same = []
    for row in states:
        state = row.state or {}
        if state.get("merged_into"):
            same.append((row.person_id, state["merged_into"]))
        same.extend((row.person_id, other) for other in state.get("linked", ()))
    facts = [Fact(r.person_id, r.type, r.occurred_at,
                  {**(r.data or {}), "factors": factors.get(r.event_id, []), "source": r.source}
                  if r.type == "risk.reported" else r.data or {}, r.event_id) for r in rows]
    return people_as_one(facts, same)


def statistics(engine: Engine, *, start: date | None = None, end: date | None = None, area: str | None,
               rules: Rules, periods: Sequence[tuple[date, date]] = ()) -> Any:
    """The figures for one period (start, end), or a list of them for `periods` (the facts loaded once)."""
    wanted = list(periods) or [(start, end)]
    last = max(e for _, e in wanted)
    # The whole day `last` in any time zone ends before the next UTC midnight + a day.
    until = datetime(last.year, last.month, last.day, tzinfo=rules.zone) + timedelta(days=1)
    facts = load_facts(engine, until)
    figures = [{"start": s, "end": e, "area": area, **all_statistics(facts, s, e, rules, area)} for s, e in wanted]
    return figures if periods else figures[0]
