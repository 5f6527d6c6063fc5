"""Fault injection for the crash tests: the worker kills itself at an awkward moment.

Off unless FAULT_INJECTION is set (tests only), as MOMENT:CHANCE[,MOMENT:CHANCE]. With
'after-state:0.05' the journey agent kills its worker with SIGKILL, with chance 0.05 per batch,
once the batch's state has reached Kafka (the table's changelog) and before its outputs are sent:
where an agent that writes state first loses outputs. 'after-outputs' is the beds agents' moment:
their outputs are in Kafka, their state is not.
"""

from __future__ import annotations

import logging
import os
import random
import signal
from typing import Any

log = logging.getLogger("journeys.faults")


class Faults:
    def __init__(self, spec: str | None) -> None:
        self.chances: dict[str, float] = {}
        for part in (spec or "").split(","):
            if part.strip():
                moment, _, chance = part.partition(":")
                self.chances[moment.strip()] = float(chance or 1.0)

    async def at(self, moment: str, app: Any) -> None:
        chance = self.chances.get(moment)
        if chance is None or random.random() >= chance:
            return
        # Flush first, so that the state written so far is in Kafka and the outputs are not.
        await app.producer.flush()
        log.warning("fault injection: SIGKILL %s", moment)
        os.kill(os.getpid(), signal.SIGKILL)
