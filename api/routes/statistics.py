"""GET /v1/statistics: CHAIN, Built for Zero, report response and moves, for a period and area."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import EngineDep, SettingsDep, allow
from journey.policy import (
    EXACT_STATISTICS,
    safe_statistics,
    statistics_neighbours,
    statistics_period_refused,
)
from journey.statistics import Rules
from readmodel.keys import Principal, Role
from readmodel.statistics import statistics
from schemas.common import IsoDate

router = APIRouter(prefix="/v1", tags=["statistics"])

# Aggregates only, so the board (council) and partners may read them.
VIEWERS = allow(Role.OUTREACH, Role.COUNCIL, Role.CHARITY, Role.HOUSING_PROVIDER, Role.HEALTH, Role.POLICE)
LONGEST_PERIOD_DAYS = 366


@router.get("/statistics")
def read_statistics(
    engine: EngineDep,
    settings: SettingsDep,
    start: Annotated[IsoDate, Query(description="First day of the period (local date)")],
    end: Annotated[IsoDate, Query(description="Day after the period's last day")],
    area: Annotated[str | None, Query(max_length=32, description="Area code; every area when left out")] = None,
    principal: Principal = VIEWERS,
) -> dict[str, Any]:
    """The statistics of journeys/statistics.py, as the README defines them. Exact for the
    council. Everyone else asks for whole weeks (Monday to Monday) or whole calendar months;
    counts from 1 to 4 read "<5" (and a zero beside one), the others are rounded to the nearest 5,
    measures over a small count are null, and a count that differs by 1 to 4 from the same
    period's without its first or last week (or month) reads "withheld": so no figure, and no
    difference of two, points at a person."""
    if end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            [{"loc": ["query", "end"], "msg": "end must be after start", "type": "value_error"}])
    if (end - start).days > LONGEST_PERIOD_DAYS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            [{"loc": ["query", "end"], "msg": f"a period is at most {LONGEST_PERIOD_DAYS} days",
                              "type": "value_error"}])
    refused = statistics_period_refused(start, end, principal.role)
    if refused:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            [{"loc": ["query", "start"], "msg": refused, "type": "value_error"}])
    if principal.role in EXACT_STATISTICS:
        return statistics(engine, start=start, end=end, area=area, rules=Rules.configured(settings))
    figures, *neighbours = statistics(engine, periods=[(start, end), *statistics_neighbours(start, end)], area=area,
                                      rules=Rules.configured(settings))
    return safe_statistics(figures, principal.role, neighbours)
