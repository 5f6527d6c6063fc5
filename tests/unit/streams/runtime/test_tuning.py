"""The worker process's tuning comes from its settings (streams/runtime/tuning.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.settings import Settings

# In a process of its own: the tuning is the whole process's, and this suite's must stay as it is.
TUNE = """
import gc, sys
from schemas.settings import Settings
from streams.runtime.tuning import tune_process
from streams.worker import tuning
tune_process(tuning(Settings(worker_switch_interval_ms=0.25, worker_gc_thresholds=(500_000, 10, 10))))
print(sys.getswitchinterval(), *gc.get_threshold())
"""


def test_the_worker_takes_its_lock_sharing_and_collector_from_the_settings() -> None:
    out = subprocess.run([sys.executable, "-c", TUNE], check=True, capture_output=True, text=True,
                         cwd=Path(__file__).parents[4]).stdout.split()
    assert float(out[0]) == pytest.approx(0.00025)
    assert [int(n) for n in out[1:]] == [500_000, 10, 10]


def test_a_switch_interval_of_nothing_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="worker_switch_interval_ms"):
        Settings(worker_switch_interval_ms=0)
