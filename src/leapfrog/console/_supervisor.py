"""The stack as the supervisor sees it: every unit's instances with state, health,
address, restarts, CPU and memory, followed live over its control socket (`watch`: a
snapshot after every change, at least once a second).

Only `watch` is sent: the console never stops or restarts anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["InstanceRow", "PlatformEvent", "StackWatch"]

log = logging.getLogger("leapfrog.console")
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class InstanceRow:
    name: str
    unit: str
    kind: str
    state: str
    detail: str
    address: str
    version: str
    restarts: int
    pid: int | None
    cpu_percent: float | None
    rss_bytes: int | None
    exit_code: int | None = None
    completed: bool = False

    @property
    def down(self) -> bool:
        """Its process is gone (killed, crashed, waiting for a restart) and it did not
        simply finish its work."""
        return (
            self.pid is None
            and not self.completed
            and (self.exit_code is not None or self.state in ("stopped", "crashloop"))
        )

    @property
    def tone(self) -> str:
        """The row's colour: ok (healthy, or done), bad (down or unhealthy), pending."""
        if self.state == "healthy" or self.completed:
            return "ok"
        if self.down or self.state in ("unhealthy", "crashloop"):
            return "bad"
        return "pending"


@dataclass(frozen=True)
class PlatformEvent:
    at: float
    instance: str
    change: str

    @property
    def clock(self) -> str:
        return time.strftime("%H:%M:%S", time.localtime(self.at))


@dataclass
class StackWatch:
    """Follows the control socket in the background; `rows` and `events` are the latest."""

    socket: Path | None
    rows: list[InstanceRow] = field(default_factory=list)
    events: deque[PlatformEvent] = field(default_factory=lambda: deque(maxlen=50))
    error: str = ""
    version: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _cpu: dict[int, tuple[float, float, float | None]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.socket is None:
            self.error = "no supervisor: the console runs outside a stack"
            return
        self._task = asyncio.get_running_loop().create_task(self._follow())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def changed(self, seen: int, timeout: float) -> int:
        """Wait until the version passes `seen` (or timeout); the current version."""
        if self.version == seen:
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        return self.version

    def _publish(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def _follow(self) -> None:
        assert self.socket is not None
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(self.socket, limit=16 << 20)
                writer.write(b'{"op": "watch"}\n')
                await writer.drain()
                self.error = ""
                while line := await reader.readline():
                    self._take(json.loads(line))
                writer.close()
                self.error = "the supervisor closed its control socket (the stack stops?)"
            except (OSError, ValueError) as exc:
                self.error = f"cannot read the supervisor ({self.socket}): {exc}"
            self._publish()
            await asyncio.sleep(1.0)

    def _take(self, snapshot: dict[str, Any]) -> None:
        before = {row.name: row.state for row in self.rows}
        rows = [self._row(item) for item in snapshot.get("instances", [])]
        now = time.time()
        for row in rows:
            old = before.get(row.name)
            if old is not None and old != row.state:
                self.events.appendleft(PlatformEvent(now, row.name, f"{old} → {row.state}"))
        self.rows = rows
        self._publish()

    def _row(self, item: dict[str, Any]) -> InstanceRow:
        pid = item.get("pid")
        cpu, rss = self._usage(pid) if isinstance(pid, int) else (None, None)
        port = item.get("port")
        address = str(item.get("address") or "")
        return InstanceRow(
            name=str(item.get("name")),
            unit=str(item.get("unit")),
            kind=str(item.get("kind")),
            state=str(item.get("state")),
            detail=str(item.get("detail") or item.get("failure") or ""),
            address=f"{address}:{port}" if port else address,
            version=str(item.get("version") or ""),
            restarts=int(item.get("restarts") or 0),
            pid=pid if isinstance(pid, int) else None,
            cpu_percent=cpu,
            rss_bytes=rss,
            exit_code=item.get("exit_code") if isinstance(item.get("exit_code"), int) else None,
            completed=bool(item.get("completed")),
        )

    def _usage(self, pid: int) -> tuple[float | None, int | None]:
        """CPU since the last look (percent of one core) and resident memory of the
        instance's leader, from /proc."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            return None, None
        used = (int(stat[11]) + int(stat[12])) / _TICKS
        now = time.monotonic()
        last = self._cpu.get(pid)
        if last is not None and now - last[0] < 0.5:
            return last[2], rss
        percent = None if last is None else max(0.0, 100.0 * (used - last[1]) / (now - last[0]))
        self._cpu[pid] = (now, used, percent)
        return percent, rss
