"""nginx as a child of the renderer; every change is a reload: SIGHUP to the master, which
starts new workers on the new configuration while the old ones finish their connections.

The signal goes straight to the master (our child) rather than through `nginx -s reload`,
which starts another nginx that parses the whole configuration only to find the master's
pid and send the same signal: 18 ms at the median and over 100 ms at times on a busy
2-core machine, against 5 ms and 13 ms for the signal alone (measured on the master
of bench/lb.py's configuration)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

from leapfrog.lb._engine import stop_process, wait_started
from leapfrog.lb._proc import check_command, die_with_parent
from leapfrog.shared.errors import LeapfrogError

__all__ = ["Nginx"]

TEMPLATE = Path(__file__).parent / "templates" / "nginx.conf.j2"


def _children(pid: int) -> set[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {int(word) for word in text.split()}


class Nginx:
    name = "nginx"
    template = TEMPLATE

    def __init__(self, binary: str, run_dir: Path, stats: str) -> None:
        self.binary = binary
        self.run_dir = run_dir
        self.stats = stats
        self.proc: subprocess.Popen[bytes] | None = None

    def _argv(self, config: Path) -> list[str]:
        return [self.binary, "-p", str(self.run_dir), "-e", "stderr", "-c", str(config)]

    def validate(self, config: Path) -> str | None:
        return check_command([*self._argv(config), "-t", "-q"])

    async def start(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            self._argv(config),
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - prctl only
        )
        await wait_started(self.proc, self._answers, "nginx")

    async def _answers(self) -> bool:
        host, _, port = self.stats.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 1.0)
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True

    async def apply(self, old: str, new: str, config: Path) -> str:
        if self.proc is None:
            raise LeapfrogError("nginx is not running", hint="start it first")
        before = _children(self.proc.pid)
        try:
            self.proc.send_signal(signal.SIGHUP)
        except ProcessLookupError:
            raise LeapfrogError("nginx is not running", hint="see this log") from None
        # Live once a worker of the new generation runs.
        for _ in range(400):
            if _children(self.proc.pid) - before:
                return "reload"
            await asyncio.sleep(0.005)
        return "reload"

    async def stop(self, grace: float) -> None:
        # SIGQUIT: graceful shutdown, the workers finish their connections.
        if self.proc is not None:
            await stop_process(self.proc, signal.SIGQUIT, grace)

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()
