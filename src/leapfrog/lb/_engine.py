"""What the renderer needs from a proxy: check a config, start, apply a new one, stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from pathlib import Path
from typing import Protocol

from leapfrog.shared.errors import LeapfrogError

__all__ = ["Engine", "stop_process", "wait_started"]


class Engine(Protocol):
    name: str
    template: Path
    """The default template."""

    def validate(self, config: Path) -> str | None:
        """None when `config` is valid, else the checker's words."""

    async def start(self, config: Path) -> None: ...

    async def apply(self, old: str, new: str, config: Path) -> str:
        """Make `new` (already written to `config`) live; returns how: runtime or reload."""

    async def stop(self, grace: float) -> None: ...

    def exited(self) -> int | None:
        """The proxy's exit status once it has died, else None."""


async def wait_started(proc: subprocess.Popen[bytes], ready: object, what: str) -> None:
    """Poll `ready()` (an async callable returning bool) until true; fail if `proc` dies."""
    for _ in range(200):
        if proc.poll() is not None:
            raise LeapfrogError(
                f"{what} exited with {proc.returncode} while starting",
                hint="its own messages are in this instance's log",
            )
        if await ready():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise LeapfrogError(f"{what} did not come up within 10s", hint="see this instance's log")


async def stop_process(proc: subprocess.Popen[bytes], sig: int, grace: float) -> None:
    """Send `sig` (the graceful stop), then SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, proc.wait), timeout=grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        await loop.run_in_executor(None, proc.wait)
