"""The collector's log side: one thread that follows every instance's log file and the
machine's log sources, turns their lines into events, and hands them to the shipper.

A thread rather than the event loop: reading files and /dev/kmsg blocks briefly, and
the supervisor's loop must stay free for health probes and the control socket.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from leapfrog.shared.files import atomic_write_json
from leapfrog.telemetry import FileFollower, LogAssembler

__all__ = ["FileSource", "LogPump", "ReaderSource"]

_log = logging.getLogger("leapfrog.collector")

POLL = 0.2
"""Seconds between two looks at every source."""
QUIET_FLUSH = 0.5
"""A record still open after this much silence is complete (no next line will say so)."""
SAVE_EVERY = 2.0
RETRY_EVERY = 30.0
"""An absent or unreadable source is tried again this often (and reported only once)."""

Event = dict[str, object]
Ship = Callable[[str, Event], None]
"""ship(key, event): the event is complete but for ts; key is the Kafka key."""


@dataclass
class FileSource:
    """A log file read through a format: an instance's log, or syslog/audit."""

    name: str
    path: Path
    assembler: LogAssembler
    fixed: Event
    from_end: bool = False
    follower: FileFollower | None = None
    last_line: float = field(default_factory=time.monotonic)


class Reader(Protocol):
    def open(self) -> None: ...
    def read(self, limit: int = 2000) -> list[Event]: ...
    def close(self) -> None: ...


@dataclass
class ReaderSource:
    """A source that reads whole events itself (/dev/kmsg, the journal)."""

    name: str
    reader: Reader
    fixed: Event
    opened: bool = False


class LogPump:
    def __init__(self, ship: Ship, positions_file: Path, report: Callable[[str], None]) -> None:
        self._ship = ship
        self._positions_file = positions_file
        self._report = report
        self._files: dict[str, FileSource] = {}
        self._readers: dict[str, ReaderSource] = {}
        self._failed: dict[str, float] = {}
        self._positions = _load(positions_file)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved = time.monotonic()

    # -- sources, from the event loop (copy on write: the thread reads the dicts) ----------

    def add_file(self, source: FileSource) -> None:
        if source.name not in self._files:
            self._files = {**self._files, source.name: source}

    def add_reader(self, source: ReaderSource) -> None:
        self._readers = {**self._readers, source.name: source}

    def saved_position(self, name: str) -> object:
        return self._positions.get(name)

    # -- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="leapfrog-logs", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Read what is there one last time, ship it, save the positions."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        for source in self._files.values():
            if source.follower is not None:
                source.follower.close()
        for reader in self._readers.values():
            reader.reader.close()

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            try:
                self.poll_once(final=stopping)
            except Exception:  # a bug in one poll must not end log collection
                _log.exception("collector: reading logs failed")
            if stopping:
                return
            self._stop.wait(POLL)

    def poll_once(self, *, final: bool = False) -> None:
        now = time.monotonic()
        for source in list(self._files.values()):
            self._poll_file(source, now, final)
        for reader in list(self._readers.values()):
            self._poll_reader(reader, now)
        if final or now - self._saved >= SAVE_EVERY:
            self._save()
            self._saved = now

    def _usable(self, name: str, now: float) -> bool:
        failed = self._failed.get(name)
        return failed is None or now - failed >= RETRY_EVERY

    def _failing(self, name: str, what: str, exc: OSError, now: float) -> None:
        if name not in self._failed:
            reason = exc.strerror or str(exc)
            self._report(f"{what}: {reason}; skipped (tried again every {RETRY_EVERY:g}s)")
        self._failed[name] = now

    def _recovered(self, name: str, what: str) -> None:
        if self._failed.pop(name, None) is not None:
            self._report(f"{what}: readable again")

    def _poll_file(self, source: FileSource, now: float, final: bool) -> None:
        if not self._usable(source.name, now):
            return
        if source.follower is None:
            at = self._positions.get(source.name)
            position = (at[0], at[1]) if isinstance(at, list) and len(at) == 2 else None
            source.follower = FileFollower(
                source.path,
                from_end=source.from_end,
                at=position,
            )
        try:
            lines = source.follower.read_lines()
        except OSError as exc:
            if not source.path.exists() and source.fixed.get("source") is None:
                return  # an instance's log before its first start: not a failure
            self._failing(source.name, f"log source {source.path}", exc, now)
            source.follower = None
            return
        self._recovered(source.name, f"log source {source.path}")
        events = []
        for line in lines:
            events += source.assembler.feed(line)
        if lines:
            source.last_line = now
        if final or now - source.last_line >= QUIET_FLUSH:
            events += source.assembler.flush()  # no next line will close the open record
        for event in events:
            self._ship(str(source.fixed["instance"]), {**event, **source.fixed})

    def _poll_reader(self, source: ReaderSource, now: float) -> None:
        if not self._usable(source.name, now):
            return
        try:
            if not source.opened:
                source.reader.open()
                source.opened = True
                self._recovered(source.name, f"log source {source.name}")
            events = source.reader.read()
        except OSError as exc:
            source.reader.close()
            source.opened = False
            self._failing(source.name, f"log source {source.name}", exc, now)
            return
        for event in events:
            self._ship(str(source.fixed["instance"]), {**event, **source.fixed})

    def _save(self) -> None:
        positions = dict(self._positions)
        for name, source in self._files.items():
            if source.follower is not None and source.follower.position is not None:
                positions[name] = list(source.follower.position)
        for name, reader in self._readers.items():
            mark = getattr(reader.reader, "mark", None)
            if mark is not None:
                positions[name] = mark
        if positions != self._positions:
            with contextlib.suppress(OSError):
                atomic_write_json(self._positions_file, positions, mode=0o600)
            self._positions = positions


def _load(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
