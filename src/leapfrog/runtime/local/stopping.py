"""SIGTERM always stops the supervisor, even when its event loop is stuck.

Signals do not go through the event loop: the kernel-level handler writes each signal's
number to a pipe (`signal.set_wakeup_fd`) that a thread of its own reads. That thread
asks the loop to stop and, from the first stop signal (or the first `down`), gives it
the supervisor's stop budget and a margin; past that, it kills every instance itself
and ends the process. A second SIGTERM or SIGINT kills every instance at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from leapfrog.runtime.local.supervisor import Supervisor

__all__ = ["StopGuard"]

WATCHDOG_MARGIN = 20.0
"""Beyond the supervisor's own stop budget, before the guard kills everything itself."""
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_ARM = b"\0"
"""Written by the loop when a stop began without a signal (`down`)."""


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """The Python-level handler does nothing: the wakeup byte is what counts."""


class StopGuard:
    def __init__(self, supervisor: Supervisor, stop_asked: Callable[[], None]) -> None:
        self.supervisor = supervisor
        self.stop_asked = stop_asked
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._watch, name="stop-guard", daemon=True)
        self._old_fd = -1
        self._old: dict[int, object] = {}

    def install(self) -> None:
        """From the main thread, in the running loop."""
        self._loop = asyncio.get_running_loop()
        self._old_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for sig in (*_STOP_SIGNALS, signal.SIGHUP):
            self._old[sig] = signal.signal(sig, _ignore)
        self._thread.start()

    def arm(self) -> None:
        """A stop began: the budget starts counting now (if no signal started it)."""
        with contextlib.suppress(OSError):
            os.write(self._write, _ARM)

    def uninstall(self) -> None:
        signal.set_wakeup_fd(self._old_fd)
        for sig, handler in self._old.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        os.close(self._write)  # the thread reads end of file and leaves
        self._thread.join(5)
        os.close(self._read)

    def _watch(self) -> None:
        deadline: float | None = None
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._read], [], [], wait)
            if not ready:
                self._expire()
                return
            data = os.read(self._read, 64)
            if not data:
                return
            for byte in data:
                stop = byte in _STOP_SIGNALS
                if stop and self._loop is not None:
                    with contextlib.suppress(RuntimeError):  # the loop is closed
                        self._loop.call_soon_threadsafe(self.stop_asked)
                if (stop or byte == _ARM[0]) and deadline is None:
                    deadline = time.monotonic() + self.supervisor.stop_budget() + WATCHDOG_MARGIN

    def _expire(self) -> None:
        self.supervisor.kill_everything()
        print("leapfrog: not stopped within its stop budget; every process killed", flush=True)
        os._exit(1)
