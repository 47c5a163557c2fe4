"""A run's deadline and progress detection, and the programs it started.

A watchdog thread ends the run when its deadline passes or when nothing progressed for
`stall_after` seconds: it kills every program the driver started through `spawn` (a
pg_basebackup stuck on a dead server), and the driver's next `check` raises. Children
also get PR_SET_PDEATHSIG, so a kill -9 of the backup process takes them along: set by
`setpriv --pdeathsig KILL` (util-linux), which then executes the program in its place,
so the child is started by vfork (~0.2 ms); where there is no `setpriv` (or the program
is not an absolute path to an executable), by a Python `preexec_fn`, which makes
`subprocess` fork the whole interpreter instead (15 to 35 ms a program on this machine, a
tenth of an InfluxDB backup).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from leapfrog.shared.errors import LeapfrogError

__all__ = ["RunAborted", "RunControl"]

_PR_SET_PDEATHSIG = 1
_SETPRIV = shutil.which("setpriv")


class RunAborted(LeapfrogError):
    """The run passed its deadline or stopped making progress."""


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class RunControl:
    def __init__(
        self,
        *,
        deadline: float,
        stall_after: float,
        on_progress: Callable[[str, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        temp_dir: Path | None = None,
    ) -> None:
        self.temp_dir = temp_dir
        """Where the driver keeps temporary copies (`tempfile`'s `dir=`): the engine's
        per-store folder, emptied when the next run starts, so a killed run leaves no
        copy of the store's data behind for long (None: the system's)."""
        self._clock = clock
        self._deadline_s = deadline
        self._stall_s = stall_after
        self._started = clock()
        self._last = self._started
        self._done = 0
        self._why: str | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._on_progress = on_progress
        self._thread: threading.Thread | None = None

    @property
    def done_bytes(self) -> int:
        return self._done

    def start(self, poll: float = 0.5) -> None:
        self._thread = threading.Thread(target=self._watch, args=(poll,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def progressed(self, what: str, nbytes: int = 0) -> None:
        """The driver moved on (`nbytes` more bytes, or a step done)."""
        with self._lock:
            self._last = self._clock()
            self._done += nbytes
        if self._on_progress is not None:
            self._on_progress(what, self._done)

    def abort_reason(self) -> str | None:
        """Why the run must end now, or None: the status rule, on the clock."""
        now = self._clock()
        if now - self._started > self._deadline_s:
            return f"passed its deadline of {self._deadline_s:g}s"
        if now - self._last > self._stall_s:
            return f"made no progress for {self._stall_s:g}s"
        return None

    def check(self) -> None:
        why = self._why or self.abort_reason()
        if why is not None:
            self._why = why
            raise RunAborted(
                f"the run {why}", hint="raise --deadline/--stall-after or look at the store"
            )

    def spawn(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        self.check()
        program = str(argv[0]) if argv else ""
        proc: subprocess.Popen[bytes]
        if _SETPRIV is not None and os.path.isabs(program) and os.access(program, os.X_OK):
            proc = subprocess.Popen([_SETPRIV, "--pdeathsig", "KILL", "--", *argv], **kwargs)
        else:
            proc = subprocess.Popen(
                list(argv),
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - prctl only, no locks taken
                **kwargs,
            )
        with self._lock:
            self._procs.append(proc)
        return proc

    def _watch(self, poll: float) -> None:
        while not self._stop.wait(poll):
            why = self.abort_reason()
            if why is None:
                continue
            self._why = why
            with self._lock:
                procs = list(self._procs)
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
            return
