"""HAProxy in master-worker mode, a child of the renderer.

Membership changes go through the runtime API (`set server ... addr/state` on the admin
socket); any other change is a seamless reload: SIGUSR2 to the master, which re-executes
itself and hands the listening sockets to the new worker (the admin socket has
`expose-fd listeners`, so the master adds `-x` by itself); the old worker finishes its
connections and leaves."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

from leapfrog.lb._engine import stop_process, wait_started
from leapfrog.lb._haproxy_cfg import runtime_commands
from leapfrog.lb._proc import check_command, die_with_parent, unix_command
from leapfrog.shared.errors import LeapfrogError

__all__ = ["HAProxy", "worker_pids"]

TEMPLATE = Path(__file__).parent / "templates" / "haproxy.cfg.j2"
# The master CLI keeps the connection open until told to quit.
SHOW_PROC = "show proc;quit"
_CLI_ERRORS = ("No such", "Unknown", "Require", "Invalid", "invalid", "not allowed", "failed")


def worker_pids(show_proc: str) -> set[int]:
    """Current workers' pids in the master CLI's `show proc` answer."""
    pids: set[int] = set()
    section = ""
    for line in show_proc.splitlines():
        if line.startswith("#"):
            section = line.strip("# ").lower()
            continue
        words = line.split()
        if section == "workers" and len(words) > 1 and words[0].isdigit():
            pids.add(int(words[0]))
    return pids


class HAProxy:
    name = "haproxy"
    template = TEMPLATE

    def __init__(self, binary: str, run_dir: Path) -> None:
        self.binary = binary
        self.master_socket = run_dir / "master.sock"
        self.admin_socket = run_dir / "admin.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    def validate(self, config: Path) -> str | None:
        return check_command([self.binary, "-c", "-q", "-f", str(config)])

    async def start(self, config: Path) -> None:
        self.master_socket.unlink(missing_ok=True)
        argv = [self.binary, "-W", "-db", "-f", str(config)]
        argv += ["-S", f"{self.master_socket},mode,600"]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(),  # noqa: PLW1509
        )
        await wait_started(self.proc, self._answers, "haproxy")

    async def _answers(self) -> bool:
        try:
            return "Name: HAProxy" in await unix_command(self.admin_socket, "show info", 1.0)
        except OSError:
            return False

    async def apply(self, old: str, new: str, config: Path) -> str:
        commands = runtime_commands(old, new)
        if commands is not None:
            if not commands:
                return "unchanged"
            try:
                answer = await unix_command(self.admin_socket, ";".join(commands))
            except OSError:
                answer = "failed: no answer on the admin socket"
            if not any(word in answer for word in _CLI_ERRORS):
                return "runtime"
        await self.reload()
        return "reload"

    async def reload(self) -> None:
        if self.proc is None:
            raise LeapfrogError("haproxy is not running", hint="start it first")
        before = worker_pids(await unix_command(self.master_socket, SHOW_PROC))
        self.proc.send_signal(signal.SIGUSR2)
        for _ in range(1000):
            await asyncio.sleep(0.01)
            try:
                now = worker_pids(await unix_command(self.master_socket, SHOW_PROC, 1.0))
            except OSError:
                continue  # the master is re-executing itself
            if now - before:
                # The new worker is listed once it has started; wait for its admin socket.
                for _ in range(200):
                    if await self._answers():
                        return
                    await asyncio.sleep(0.01)
                return
        raise LeapfrogError(
            "haproxy did not start a new worker within 10s of the reload",
            hint="the old worker keeps serving; see this instance's log",
        )

    async def stop(self, grace: float) -> None:
        # SIGUSR1: soft stop, the workers finish their connections.
        if self.proc is not None:
            await stop_process(self.proc, signal.SIGUSR1, grace)

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()
