"""What every benchmark shares: the machine it ran on and percentiles (its own Kafka and settings:
deploy/throwaway.py)."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}"


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system, every thread) a process has used, from /proc (Linux)."""
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def keep_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="fill the read model in DIR and keep it; a later run given the same DIR reads it again "
                             "without filling (a million events take minutes to fill)")


def workdir(stack: contextlib.ExitStack, keep: Path | None, prefix: str) -> Path:
    """The directory of a benchmark's read model: the one kept (--keep), or a temporary one."""
    if keep is None:
        return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
    keep.mkdir(parents=True, exist_ok=True)
    return keep
