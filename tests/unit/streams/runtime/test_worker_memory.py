"""The worker gives the memory it freed back to the system (streams/runtime/tuning.py): glibc's malloc
keeps freed memory for reuse unless asked, and the worker's resident size stayed at its peak."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc",
                                reason="mallopt and malloc_trim are glibc's; elsewhere the worker leaves malloc as is")

# In a process of its own, so what this suite allocated does not count: 200,000 values of 600
# bytes (past Python's small-object allocator, so they come from malloc), every hundredth kept so
# the heap cannot simply shrink from its top; then the rest freed.
MEASURE = """
import sys
from streams.runtime.tuning import give_back_free_memory, share_malloc_arenas
share_malloc_arenas(2)
def rss_mb():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
values = [bytes([n % 251]) * 600 for n in range(200_000)]
kept = values[::100]
del values
freed = rss_mb()
give_back_free_memory()
print(freed, rss_mb(), len(kept))
"""


def test_freed_memory_goes_back_to_the_system() -> None:
    out = subprocess.run([sys.executable, "-c", MEASURE], check=True, capture_output=True, text=True,
                         cwd=Path(__file__).parents[4]).stdout.split()
    freed, trimmed = float(out[0]), float(out[1])
    assert freed - trimmed > 60, f"resident {freed:.0f} MB after freeing, {trimmed:.0f} MB after giving back"
