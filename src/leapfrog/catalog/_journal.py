"""Durable state: a JSON-lines write-ahead log with group commit, plus snapshots.

Every change is one line appended to `wal-<seq>.jsonl`. Lines appended during one turn
of the event loop are written and fsynced together on a writer thread (one fsync per
batch, however many clients wrote), and the writers are answered only after that fsync.
Once the log grows long, the whole state is written to `snapshot.json` (atomically) and
a new log is started, so start-up replays the snapshot plus a short tail. A torn last
line (a crash mid-write) is skipped on replay.

The state holds KV values and sessions, so only its owner may read it: the directory is
kept 0700 and its files 0600 (as Consul keeps its raft data), and a directory left more
open by an older version is closed on start.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import stat
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar

from leapfrog.shared.files import atomic_write_text, fsync_directory

__all__ = ["Chunked", "DirectoryBusy", "Journal"]

log = logging.getLogger("leapfrog.catalog")

SNAPSHOT = "snapshot.json"
QUARANTINE = "quarantine.jsonl"
DIR_MODE = 0o700
FILE_MODE = 0o600


def _wal_files(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in directory.glob("wal-*.jsonl"):
        try:
            found.append((int(path.stem.removeprefix("wal-")), path))
        except ValueError:
            continue
    return sorted(found)


T = TypeVar("T")

SNAPSHOT_CHUNK = 256
"""Records encoded per loop turn while a snapshot is written (a few ms at most)."""


class Chunked(Generic[T]):
    """A list in a snapshot's state, encoded `SNAPSHOT_CHUNK` records per loop turn so a
    large state never holds the loop for long. The records are those of the moment the
    snapshot was started; one changed while it is encoded may be saved in its newer
    form, which its line in the new log repeats (records are idempotent)."""

    def __init__(self, items: Sequence[T], encode: Callable[[T], Any]) -> None:
        self.items = items
        self.encode = encode


class DirectoryBusy(Exception):
    """Another running catalog holds the data directory."""


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        make_private(directory)
        # Two catalogs appending to one log would corrupt it: the second one refuses.
        self._lock = _open_private(directory / "LOCK", "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise DirectoryBusy(directory) from None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog-wal")
        self._buffer: list[bytes] = []
        self._batch: asyncio.Future[None] | None = None
        self._writing = False
        self._seq = 0
        self._file: BinaryIO | None = None
        self.lines_since_snapshot = 0
        self.fsyncs = 0
        """Group commits written since start (a metric)."""

    def load(self) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The last snapshot and the log records written after it."""
        snapshot: dict[str, Any] | None = None
        path = self.directory / SNAPSHOT
        if path.exists():
            snapshot = json.loads(path.read_text(encoding="utf-8"))
            sequence = snapshot.get("wal_seq") if isinstance(snapshot, dict) else None
            if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
                raise ValueError(f"{SNAPSHOT} is not a catalog snapshot (no wal_seq)")
        first = int(snapshot["wal_seq"]) if snapshot else 0
        records: list[dict[str, Any]] = []
        files = [(seq, p) for seq, p in _wal_files(self.directory) if seq >= first]
        for seq, wal in files:
            self._seq = max(self._seq, seq)
            for number, line in enumerate(wal.read_bytes().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except ValueError:  # UnicodeDecodeError included
                    log.warning("skipping a torn line %d of %s", number, wal.name)
                except RecursionError:
                    log.warning("skipping an unreadable line %d of %s", number, wal.name)
        self._seq = max(self._seq, first)
        self.lines_since_snapshot = len(records)
        return snapshot, records

    def open(self) -> None:
        self._file = _open_private(self.directory / f"wal-{self._seq}.jsonl", "ab")
        # A torn last line must not swallow the next record: start on a fresh line.
        if self._file.tell() > 0:
            self._file.write(b"\n")
        # The new log's name must be on disk before anything acknowledged is in it.
        fsync_directory(self.directory)

    def quarantine(self, where: str, record: Any, problem: str) -> None:
        """Keep a record that failed its checks on load aside (quarantine.jsonl) and say so."""
        log.warning(
            "catalog: quarantined a bad record from %s (%s); it is kept in %s and not served",
            where,
            problem,
            QUARANTINE,
        )
        line = {"from": where, "problem": problem, "record": record}
        # Owner-only: a quarantined record may hold KV values.
        fd = os.open(self.directory / QUARANTINE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        with open(fd, "a", encoding="utf-8") as out:
            out.write(json.dumps(line, default=repr) + "\n")

    def append(self, record: dict[str, Any]) -> None:
        # allow_nan=False: a non-finite number must fail here, never be written to disk.
        line = json.dumps(record, separators=(",", ":"), allow_nan=False)
        self._buffer.append(line.encode() + b"\n")
        self.lines_since_snapshot += 1
        if self._batch is None:
            loop = asyncio.get_running_loop()
            self._batch = loop.create_future()
            if not self._writing:
                loop.call_soon(self._flush)

    def committed(self) -> asyncio.Future[None]:
        """Resolves once everything appended so far is on disk."""
        if self._batch is not None:
            return self._batch
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    def _flush(self) -> None:
        if self._batch is None or self._writing:
            return
        lines, batch = self._buffer, self._batch
        self._buffer, self._batch = [], None
        self._writing = True
        job = asyncio.get_running_loop().run_in_executor(self._executor, self._write, lines)
        job.add_done_callback(lambda done: self._written(done, batch))

    def _written(self, done: asyncio.Future[None], batch: asyncio.Future[None]) -> None:
        self._writing = False
        error = done.exception()
        if error is not None:
            log.error("catalog journal write failed: %s", error)
            batch.set_exception(error)
            batch.exception()  # retrieved: writers see it, the loop does not log it again
        else:
            batch.set_result(None)
        self._flush()

    def _write(self, lines: list[bytes]) -> None:
        assert self._file is not None
        self._file.write(b"".join(lines))
        self._file.flush()
        os.fsync(self._file.fileno())
        self.fsyncs += 1

    async def snapshot(self, capture: Callable[[], dict[str, Any]]) -> None:
        """Write the state `capture()` returns as the snapshot; drop the older logs.

        The state is captured and the log switched in the same loop turn, so every line
        written to an old log is in the snapshot. Lines still buffered go to the new log
        and are replayed over the snapshot, which is harmless: records are idempotent.
        `Chunked` lists in the state are encoded over the following loop turns (what
        changes meanwhile is in the new log too); the rest of the state at once.
        """
        state = capture()
        self._seq += 1
        state["wal_seq"] = self._seq
        self.lines_since_snapshot = len(self._buffer)
        loop = asyncio.get_running_loop()
        switched = loop.run_in_executor(self._executor, self._switch)
        try:
            text = await _encode_state(state)
        finally:
            await switched
        await loop.run_in_executor(self._executor, self._write_snapshot, text)

    def _switch(self) -> None:
        if self._file is not None:
            self._file.close()
        self.open()

    def _write_snapshot(self, text: str) -> None:
        # Durable (file and directory fsynced) before the logs it replaces are deleted:
        # a power loss in between must find the old logs or the new snapshot.
        atomic_write_text(self.directory / SNAPSHOT, text, mode=FILE_MODE, durable=True)
        for seq, path in _wal_files(self.directory):
            if seq < self._seq:
                path.unlink(missing_ok=True)

    async def close(self) -> None:
        await self.committed()
        while self._writing:
            await asyncio.sleep(0.001)
        if self._file is not None:
            self._file.close()
            self._file = None
        self._executor.shutdown(wait=True)
        self._lock.close()


async def _encode_state(state: dict[str, Any]) -> str:
    """`state` as compact JSON; `Chunked` lists a chunk per loop turn."""
    parts: list[str] = []
    for key, value in state.items():
        parts.append(json.dumps(key) + ":")
        if not isinstance(value, Chunked):
            parts.append(json.dumps(value, separators=(",", ":")))
            parts.append(",")
            continue
        parts.append("[")
        items, encode = value.items, value.encode
        for start in range(0, len(items), SNAPSHOT_CHUNK):
            if start:
                parts.append(",")
                await asyncio.sleep(0)  # let the loop serve between chunks
            chunk = [encode(item) for item in items[start : start + SNAPSHOT_CHUNK]]
            parts.append(json.dumps(chunk, separators=(",", ":"))[1:-1])
        parts.append("],")
    if parts:
        parts[-1] = parts[-1][:-1]  # the last comma
    return "{" + "".join(parts) + "}"


def make_private(directory: Path) -> None:
    """`directory` 0700 and the files in it 0600, whatever made them (an older version
    wrote 0755 and 0644); each change is logged."""
    _restrict(directory, DIR_MODE)
    for path in directory.iterdir():
        if path.is_file() and not path.is_symlink():
            _restrict(path, FILE_MODE)


def _restrict(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.lstat().st_mode)
    if current != mode:
        path.chmod(mode)
        log.info("%s was mode %04o: now %04o, readable by its owner only", path, current, mode)


def _open_private(path: Path, mode: str) -> Any:
    """open(path, mode) for appending, creating the file 0600 (never wider, whatever
    the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    return os.fdopen(fd, mode)
