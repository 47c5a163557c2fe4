"""Small helpers the engines share: running a checker, talking to a Unix socket, tying
the engine's life to this process."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

__all__ = ["check_command", "die_with_parent", "unix_command"]

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None]:
    """A `preexec_fn` that makes the engine (HAProxy's or nginx's master) get SIGTERM when
    `leapfrog lb run` dies, however it dies: a master left behind would keep the port
    with a stale configuration. The master then stops its workers itself."""
    parent = os.getpid()
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the line above
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


def check_command(argv: list[str]) -> str | None:
    """Run a configuration check; None when it passed, else what it printed."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{argv[0]} could not run: {exc}"
    if done.returncode == 0:
        return None
    lines = (done.stderr + done.stdout).strip().splitlines()
    return "\n".join(lines[-15:]) or f"{argv[0]} exited with {done.returncode}"


async def unix_command(path: Path, command: str, timeout: float = 5.0) -> str:
    """Send one line to a Unix stream socket (HAProxy's CLI) and read the whole answer."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_unix_connection(str(path))
        try:
            writer.write(command.encode() + b"\n")
            await writer.drain()
            return (await reader.read()).decode(errors="replace")
        finally:
            writer.close()
