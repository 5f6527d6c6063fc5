"""The board's month's flow, worked out when a board asked for it (readmodel/board.py) by one
worker, in a process of its own: 1.4 s of CPU at 1,000,000 events would hold this process's
Python lock, and every batch would wait for it."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine as SQLEngine

from journey.nights import night_of
from journey.statistics import Rules
from readmodel.board import claim, keep, month_flow
from readmodel.database import read_model
from schemas.settings import Settings

log = logging.getLogger("journeys.board")
# How long a claim holds: a worker that failed or stopped meanwhile lets another try after it.
WORKING_FOR = timedelta(minutes=2)


def _work_out(settings: Settings, night: date) -> dict[str, Any]:
    """month_flow in the process apart, with its own connection."""
    engine = read_model(settings)
    try:
        return month_flow(engine, Rules.configured(settings), night)
    finally:
        engine.dispose()


class MonthFlow:
    """Works the flow out whenever a board asked for it and this worker claims the asking."""

    def __init__(self, settings: Settings, engine: SQLEngine) -> None:
        self.settings = settings
        self.engine = engine
        self.apart: ProcessPoolExecutor | None = None  # made at the first asking: most tests never ask

    async def once(self) -> bool:
        """Work the flow out if it was asked for and this worker claims it; whether it did."""
        loop = asyncio.get_running_loop()
        now = datetime.now(UTC)
        if not await loop.run_in_executor(None, claim, self.engine, now, WORKING_FOR):
            return False
        if self.apart is None:
            # A fresh interpreter: forking this process would copy its threads' locks mid-use.
            self.apart = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        try:
            figures = await loop.run_in_executor(self.apart, _work_out, self.settings,
                                                 night_of(now, self.settings.zone))
        except Exception as error:  # the claim lapses after WORKING_FOR, and a board asking then gets another try
            log.warning("the board's month's flow could not be worked out: %s", type(error).__name__)
            return False
        await loop.run_in_executor(None, keep, self.engine, figures, now)
        return True

    def close(self) -> None:
        if self.apart is not None:
            self.apart.shutdown(wait=False, cancel_futures=True)
