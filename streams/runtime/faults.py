"""Fault injection for the crash tests: the worker kills itself at an awkward moment.

Off unless FAULT_INJECTION is set (tests only), as MOMENT:CHANCE[,MOMENT:CHANCE]. The moments
are the two gaps between a batch's three writes (streams/runtime/engine.py):
- 'after-outputs': the batch's outputs are in Kafka, its state is not;
- 'after-state': its outputs and state are in Kafka, its input offsets are not committed.
With 'after-state:0.05' the worker kills itself with SIGKILL, with chance 0.05 per batch, there.
"""

from __future__ import annotations

import logging
import os
import random
import signal

log = logging.getLogger("journeys.faults")


class Faults:
    def __init__(self, spec: str | None) -> None:
        self.chances: dict[str, float] = {}
        for part in (spec or "").split(","):
            if part.strip():
                moment, _, chance = part.partition(":")
                self.chances[moment.strip()] = float(chance or 1.0)

    async def at(self, moment: str) -> None:
        chance = self.chances.get(moment)
        if chance is None or random.random() >= chance:
            return
        log.warning("fault injection: SIGKILL %s", moment)
        os.kill(os.getpid(), signal.SIGKILL)
