"""The worker's stage states on local disk (streams/runtime/store.py), with the real RocksDB, and the
engine's batches reading and writing them."""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

from streams.runtime import Batch, DeadLetters, Stage, StateStore

DEAD = DeadLetters("dead", lambda record, reason: reason.encode())


def store(root: Path) -> StateStore:
    return StateStore(root, cache_mib=8, write_buffer_mib=8)


def test_a_partition_keeps_what_is_written_and_forgets_what_is_deleted(tmp_path: Path) -> None:
    states = store(tmp_path)
    follow0 = states.fresh("follow", 0)
    follow0.write({b"a": b"1", b"b": b"2"})
    follow0.write({b"a": None, b"c": b"3", b"b": b"22"})
    assert follow0.get(b"a") is None and follow0.get(b"b") == b"22"
    assert sorted(follow0.items()) == [(b"b", b"22"), (b"c", b"3")]
    states.close()


def test_stages_and_partitions_do_not_share_keys(tmp_path: Path) -> None:
    states = store(tmp_path)
    parts = {(stage, p): states.fresh(stage, p) for stage in ("identify", "follow") for p in (0, 1)}
    for (stage, p), state in parts.items():
        state.write({b"k": f"{stage}.{p}".encode()})
    assert {where: state.get(b"k") for where, state in parts.items()} == {
        (stage, p): f"{stage}.{p}".encode() for stage in ("identify", "follow") for p in (0, 1)}
    states.close()


def test_a_partition_given_again_starts_empty(tmp_path: Path) -> None:
    states = store(tmp_path)
    states.fresh("follow", 3).write({b"k": b"old"})
    again = states.fresh("follow", 3)
    assert again.get(b"k") is None and list(again.items()) == []
    states.drop("follow", 3)
    states.drop("follow", 3)  # dropping what is not held is nothing
    states.close()


def test_closing_removes_the_directory(tmp_path: Path) -> None:
    states = store(tmp_path)
    states.fresh("follow", 0).write({b"k": b"v" * 10_000})
    assert states.path.is_dir()
    states.close()
    assert not states.path.exists() and list(tmp_path.iterdir()) == []


def test_a_dead_workers_directory_is_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    live = store(tmp_path)
    # A worker killed with SIGKILL leaves its directory; its lock died with it.
    code = ("import os, sys; from pathlib import Path; from streams.runtime.store import StateStore; "
            "s = StateStore(Path(sys.argv[1]), cache_mib=8, write_buffer_mib=8); "
            "s.fresh('follow', 0).write({b'k': b'v'}); print(s.path, flush=True); os._exit(0)")
    dead = Path(subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, capture_output=True,
                               text=True, cwd=Path(__file__).parents[4]).stdout.strip())
    assert dead.is_dir() and dead != live.path
    newer = store(tmp_path)
    assert not dead.exists()
    assert live.path.is_dir() and newer.path.is_dir()
    with (live.path / "owner.lock").open("r") as lock:  # still held by its owner
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = False
        except BlockingIOError:
            held = True
    assert held
    live.close()
    newer.close()


class Counter(BaseModel):
    n: int


def test_a_batch_keeps_states_the_next_batch_loads_and_deletes_them(tmp_path: Path) -> None:
    states = store(tmp_path)
    stage = Stage("count", "topic", step=None, changelog="count-changelog")  # type: ignore[arg-type]
    stage.store = {0: states.fresh("count", 0), 1: states.fresh("count", 1)}
    first = Batch(stage, [], DEAD)
    first.keep(0, b"a", Counter(n=1))
    first.keep(1, b"b", Counter(n=2))
    first.write_kept()
    assert first.changed == {(0, b"a"): b'{"n":1}', (1, b"b"): b'{"n":2}'}  # what the changelog gets
    second = Batch(stage, [], DEAD)
    assert second.load(0, b"a", Counter) == Counter(n=1) and second.load(1, b"a", Counter) is None
    second.keep(0, b"a", None)
    second.write_kept()
    assert second.changed == {(0, b"a"): None}
    assert Batch(stage, [], DEAD).load(0, b"a", Counter) is None
    assert sorted(stage.values()) == [(b"b", b'{"n":2}')]
    states.close()
