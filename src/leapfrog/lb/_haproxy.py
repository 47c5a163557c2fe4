"""HAProxy in master-worker mode, a child of the renderer.

Membership changes go through the runtime API (`set server ... addr/state` on the admin
socket), and so do new map contents (the default template's routes: `prepare map`, `add
map`, `commit map`, an atomic switch to the new version); any other change is a seamless
reload: SIGUSR2 to the master, which re-executes
itself and hands the listening sockets to the new worker (the admin socket has
`expose-fd listeners`, so the master adds `-x` by itself); the old worker finishes its
connections and leaves."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from pathlib import Path

from leapfrog.lb._engine import stop_process, wait_started
from leapfrog.lb._haproxy_cfg import MapEntries, runtime_change, write_maps
from leapfrog.lb._proc import check_command, die_with_parent, unix_command
from leapfrog.shared.errors import LeapfrogError

__all__ = ["HAProxy", "worker_pids"]

TEMPLATE = Path(__file__).parent / "templates" / "haproxy.cfg.j2"
# The master CLI keeps the connection open until told to quit.
SHOW_PROC = "show proc;quit"
_CLI_ERRORS = ("No such", "Unknown", "Require", "Invalid", "invalid", "not allowed", "failed")
_NEW_VERSION = re.compile(r"New version created: (\d+)")
_LINE_BYTES = 8192
"""Bytes of commands sent on one CLI connection: HAProxy reads a line into one buffer
(tune.bufsize, 16 KiB by default), so a long map goes in several."""


def _cli_word(text: str) -> str:
    """A word as the CLI reads it back: backslash, `;` and blanks escaped."""
    return re.sub(r"([\\; \t])", r"\\\1", text)


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
        try:
            write_maps(config.read_text(), config.parent)
        except OSError as exc:
            return f"cannot write the configuration's map files: {exc}"
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
        change = runtime_change(old, new)
        if change is not None:
            if not change:
                return "unchanged"
            try:
                # Servers first: a new route's backend is ready before the map sends to it.
                # They share the first map's `prepare` line: one round trip fewer.
                answer, servers = "", change.servers
                for name, entries in change.maps.items():
                    answer += await self._replace_map(name, entries, servers)
                    servers = []
                if servers:
                    answer += await unix_command(self.admin_socket, ";".join(servers))
            except OSError:
                answer = "failed: no answer on the admin socket"
            write_maps(new, config.parent)  # after: for a later start or reload
            if not any(word in answer for word in _CLI_ERRORS):
                return "runtime"
        await self.reload()
        return "reload"

    async def _replace_map(self, name: str, entries: MapEntries, first: list[str]) -> str:
        """Load a new version of the map, then switch to it at once (`commit`): requests
        see the old entries or the new ones, never a part. `first`: commands to send
        before, on the same line."""
        target = _cli_word(name)
        answer = await unix_command(self.admin_socket, ";".join([*first, f"prepare map {target}"]))
        version = _NEW_VERSION.search(answer)
        if version is None:
            return f"failed: prepare map {name}: {answer.strip()}"
        at = f"@{version.group(1)} {target}"
        commands = [f"add map {at} {_cli_word(k)} {_cli_word(v)}" for k, v in entries]
        commands.append(f"commit map {at}")
        answers = []
        batch: list[str] = []
        for command in commands:
            if batch and sum(len(c) + 1 for c in batch) + len(command) > _LINE_BYTES:
                answers.append(await unix_command(self.admin_socket, ";".join(batch)))
                batch = []
            batch.append(command)
        answers.append(await unix_command(self.admin_socket, ";".join(batch)))
        return "".join(answers)

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
