"""The runtime's sizes and the worker process's tuning, in one place. Every value comes from the
settings (schemas/settings.py, WORKER_*, where each is described with what it was measured to
do); the defaults here are the same, for tests that make an engine without settings."""

from __future__ import annotations

import ctypes
import gc
import platform
import sys
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tuning:
    batch_size: int = 2_000  # most records a fetch takes from the fed topics, and again from the rest
    fetch_wait_ms: int = 10
    session_timeout_ms: int = 10_000
    max_poll_interval_ms: int = 300_000
    linger_ms: int = 0
    producer_batch_bytes: int = 512 * 1024
    producer_request_bytes: int = 8 * 1024 * 1024
    fetch_bytes: int = 32 * 1024 * 1024
    fetch_partition_bytes: int = 4 * 1024 * 1024
    restore_fetch_bytes: int = 64 * 1024 * 1024
    restore_partition_bytes: int = 16 * 1024 * 1024
    handed_values: int = 20_000
    key_hashes: int = 262_144
    gc_thresholds: tuple[int, int, int] = (1_000_000, 20, 100)
    malloc_arenas: int = 2
    trim_every_s: float = 10.0
    switch_interval_ms: float = 0.5


# glibc's malloc keeps what the process frees for reuse, in one arena per thread that allocated
# (up to eight per core), and returns little of it to the system; see WORKER_MALLOC_ARENAS.
_GLIBC = ctypes.CDLL(None) if platform.libc_ver()[0] == "glibc" else None
_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


def tune_process(tuning: Tuning) -> None:
    """Before the worker's threads start: the cycle collector's thresholds, how soon a thread
    back from the database gets Python's lock, and the threads sharing `malloc_arenas` arenas
    (glibc only)."""
    gc.set_threshold(*tuning.gc_thresholds)
    sys.setswitchinterval(tuning.switch_interval_ms / 1000)
    share_malloc_arenas(tuning.malloc_arenas)


def share_malloc_arenas(arenas: int) -> None:
    if _GLIBC is not None:
        _GLIBC.mallopt(_M_ARENA_MAX, arenas)


def give_back_free_memory() -> None:
    """Return the free pages of every malloc arena to the system (glibc only)."""
    if _GLIBC is not None:
        _GLIBC.malloc_trim(0)
