"""Finding and killing what one run of bench/components_up.py started, and small helpers.

A run's processes are found two ways, because leapfrog hands its components only the
environment the component asks for: by `LEAPFROG_BENCH=<marker>` in the environment
(the supervisor, the by-hand processes and their children), or by the run's temp dir
in the command line (every component's argv names a file in its data directory there).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from leapfrog.shared.procs import cmdline, process_start_time

__all__ = ["kill_marked", "marked_processes"]


def marked_processes(marker: str, root: Path) -> list[int]:
    """Live processes of this run (zombies have exited and are left out)."""
    needle = f"LEAPFROG_BENCH={marker}\0".encode()
    in_argv = str(root).encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry.name}/environ").read_bytes()
            argv = Path(f"/proc/{entry.name}/cmdline").read_bytes()
        except OSError:
            continue
        ours = needle in environ or in_argv in argv
        if ours and process_start_time(int(entry.name)) is not None:
            found.append(int(entry.name))
    return found


def kill_marked(marker: str, root: Path, deadline: float = 5.0) -> list[str]:
    """SIGKILL every process of this run still alive; their command lines."""
    found = marked_processes(marker, root)
    lines = [f"{pid} ({cmdline(pid)[:120]})" for pid in found]
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    end = time.monotonic() + deadline
    while marked_processes(marker, root) and time.monotonic() < end:
        time.sleep(0.05)
    return lines
