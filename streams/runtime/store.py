"""Where the worker keeps its stages' states: RocksDB on the local disk (rocksdict), one column
family per stage and partition, filled from the stage's changelog when the partition is given to
the worker and dropped when it is taken away.

Why on disk: kept in Python's heap, every person's history the worker held cost memory for as
long as it held the partition, so the worker grew with the number of people (517 MB with 10,500
people; the target is 500 MB with 100,000). RocksDB keeps them in files with a bounded cache and
bounded write buffers; reading one back costs a few microseconds, once per person per batch.

Why filled from the changelog every time rather than kept across restarts: the store is written
when a batch is decided, before its changelog records are acknowledged, so after a crash it may
hold states the changelog never got. The changelog is the truth; the store is a copy of it that
lives only as long as its process. So it has no write-ahead log, and its directory is removed when
the worker stops, or by the next worker to start after a crash.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch, WriteOptions

log = logging.getLogger("journeys.store")

_OWNER = "owner.lock"  # held (flock) by the live worker whose directory it is


class PartitionState:
    """One stage's states in one partition: bytes by key."""

    __slots__ = ("_db", "_family", "_handle", "name")

    def __init__(self, db: Rdict, family: Rdict, name: str) -> None:
        self._db = db
        self._family = family
        self._handle = db.get_column_family_handle(name)
        self.name = name

    def get(self, key: bytes) -> bytes | None:
        return self._family.get(key)

    def write(self, changes: dict[bytes, bytes | None]) -> None:
        """Put each value, delete each key whose value is None: in one write."""
        batch = WriteBatch(raw_mode=True)
        batch.set_default_column_family(self._handle)
        for key, value in changes.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        self._db.write(batch)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return cast(Iterator[tuple[bytes, bytes]], iter(self._family.items()))


class StateStore:
    """The stages' states of one worker process, in a directory of its own under `root`."""

    def __init__(self, root: Path, *, cache_mib: int, write_buffer_mib: int) -> None:
        root.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(root)
        # Locked before it is given the name other workers look for, so none takes it for abandoned.
        making = Path(tempfile.mkdtemp(prefix=".making-", dir=root))
        self._owner: IO[str] | None = (making / _OWNER).open("w")
        fcntl.flock(self._owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.path = root / f"worker-{making.name.removeprefix('.making-')}"
        making.rename(self.path)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        # One budget for every column family's memtables, and one cache for every table's blocks:
        # the worker's memory does not grow with the number of partitions or people.
        options.set_db_write_buffer_size(write_buffer_mib << 20)
        table = BlockBasedOptions()
        table.set_block_cache(Cache(cache_mib << 20))
        options.set_block_based_table_factory(table)
        self._options = options
        self._write = WriteOptions()
        # Nothing here outlives the process (see the module docstring). rocksdict's stub calls
        # disable_wal a method; it is an attribute.
        self._write.disable_wal = True  # type: ignore[method-assign, assignment]
        self._db: Rdict | None = Rdict(str(self.path / "db"), options)
        self._db.set_write_options(self._write)
        self._families: set[str] = set()

    def fresh(self, stage: str, partition: int) -> PartitionState:
        """An empty state for a stage's partition (whatever it held before is dropped)."""
        db = self._open()
        name = f"{stage}.{partition}"
        self.drop(stage, partition)
        family = db.create_column_family(name, self._options)
        family.set_write_options(self._write)
        self._families.add(name)
        return PartitionState(db, family, name)

    def drop(self, stage: str, partition: int) -> None:
        name = f"{stage}.{partition}"
        if name in self._families:
            self._open().drop_column_family(name)
            self._families.discard(name)

    def close(self) -> None:
        """Close the database and remove its directory."""
        if self._db is not None:
            self._db.close()
            self._db = None
            shutil.rmtree(self.path, ignore_errors=True)
        if self._owner is not None:
            self._owner.close()
            self._owner = None

    def _open(self) -> Rdict:
        if self._db is None:
            raise RuntimeError("the state store is closed")
        return self._db


def _remove_abandoned(root: Path) -> None:
    """Remove the directories of workers that died without removing their own (SIGKILL, a lost
    machine): a directory whose owner lock can be taken has no live owner."""
    for directory in root.glob("worker-*"):
        owner = directory / _OWNER
        try:
            with owner.open("r") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(directory, ignore_errors=True)
                log.info("removed an abandoned state directory: %s", directory.name)
        except BlockingIOError:
            continue  # a live worker's
        except FileNotFoundError:  # removed meanwhile by another worker starting
            continue
