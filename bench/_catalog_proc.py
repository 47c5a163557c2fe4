"""The server under test as a child process: start, wait for its ready line, measure, stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from _shared import BenchError, tail

__all__ = ["BenchError", "ServerProcess"]

READY = re.compile(r"http=([0-9.]+):(\d+)")
READY_TIMEOUT = 30.0
STOP_GRACE = 15.0  # the catalog writes a snapshot of its state when it stops
IDLE_POLL = 0.05


def _tail(path: Path, lines: int = 12) -> str:
    try:
        return tail(path.read_text(errors="replace"), lines)
    except OSError:
        return ""


class ServerProcess:
    """A server that prints `... http=HOST:PORT ...` once it listens."""

    def __init__(self, label: str, argv: list[str], log: Path, cpus: set[int] | None) -> None:
        self.label = label
        self.log = log
        mine = os.sched_getaffinity(0)
        if cpus is not None:
            os.sched_setaffinity(0, cpus)  # the child inherits it, and so do all its threads
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the bench, which stops it in order
            )
        os.sched_setaffinity(0, mine)
        self.host, self.port = self._wait_ready()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _wait_ready(self) -> tuple[str, int]:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            found = READY.search(self.log.read_text(errors="replace"))
            if found:
                return found.group(1), int(found.group(2))
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.label} exited {self.proc.returncode} before it was ready:\n"
                    + _tail(self.log)
                )
            time.sleep(0.02)
        self.stop()
        raise BenchError(f"{self.label} printed no ready line within {READY_TIMEOUT:g}s")

    def memory_mb(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) in MiB, from /proc/PID/status."""
        fields: dict[str, float] = {}
        with open(f"/proc/{self.pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = int(value.split()[0]) / 1024
        return fields["VmRSS"], fields["VmHWM"]

    def cpu_ticks(self) -> int:
        """utime + stime of the process, in clock ticks (from /proc/PID/stat)."""
        with open(f"/proc/{self.pid}/stat", "rb") as f:
            stat = f.read()
        fields = stat[stat.rindex(b")") + 2 :].split()
        return int(fields[11]) + int(fields[12])

    async def wait_idle(self, quiet: float = 0.2, limit: float = 5.0) -> bool:
        """Wait until the server has used no CPU for `quiet` seconds; False at `limit`.

        Used before a change is made, so that every watcher's request has been read and
        parked by the server, and the change is not timed against a backlog.
        """
        deadline = time.monotonic() + limit
        last, since = self.cpu_ticks(), time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(IDLE_POLL)
            now = self.cpu_ticks()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return True
        return False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after the grace period; the exit status (None if killed)."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
            return None
