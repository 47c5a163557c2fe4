"""`leapfrog exec`: a command run in each chosen instance's context.

The supervisor answers each instance's context over its control socket (`contexts`):
the environment the instance started with, its user, working directory and address.
The command then runs from the caller's process, one child per instance (at most
`parallel` at a time), each in a session of its own so a timeout ends everything it
started, and in the instance's network namespace when it has one (isolation). The
socket is its owner's only, so the environment (which holds the instance's credentials)
goes nowhere it could not already be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leapfrog.runtime.local import control
from leapfrog.runtime.local.network import NetworkError
from leapfrog.runtime.local.network.namespaces import NETNS_DIR
from leapfrog.runtime.local.network.setns import in_namespace
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.runtime.local.recovery import live_supervisor, read_state
from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from leapfrog.runtime.local.supervisor import Supervisor

__all__ = ["ExecResult", "contexts", "exec_all", "select"]

TIMED_OUT = 124
"""The exit code reported for a command that ran out of time (as coreutils' timeout)."""

OnLine = Callable[[str, str, str], None]
"""Called with (instance, "stdout" | "stderr", line without its newline)."""


@dataclass
class ExecResult:
    instance: str
    unit: str
    exit_code: int | None = None
    """None: the command did not run (see `error`)."""
    timed_out: bool = False
    error: str | None = None
    seconds: float = 0.0
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def as_json(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "unit": self.unit,
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "stdout": "\n".join(self.stdout),
            "stderr": "\n".join(self.stderr),
        }


# -- the supervisor's side ----------------------------------------------------------------


def select(sup: Supervisor, names: Sequence[str], every: bool) -> list[dict[str, Any]]:
    """The contexts of the chosen instances: every service instance with `every`, else
    each NAME (all of a unit's instances) or NAME-N. Raises LeapfrogError naming an
    unknown one."""
    chosen: list[Any] = []
    if every:
        chosen = [
            i for unit in sup.plan.order for i in sup.units[unit] if i.launch.kind == "service"
        ]
    for name in names:
        found = sup.find(name)
        if not found:
            known = ", ".join(sorted(sup.units)) or "none"
            raise LeapfrogError(
                f"there is no unit or instance named {name!r}",
                hint=f"units: {known}; an instance is UNIT-N (`leapfrog status` lists them)",
            )
        chosen.extend(i for i in found if i not in chosen)
    result = []
    for instance in chosen:
        launch = instance.launch
        result.append(
            {
                "instance": launch.name,
                "unit": launch.unit,
                "state": str(instance.state),
                "address": launch.address,
                "port": launch.port,
                "netns": launch.network.netns,
                "cwd": launch.cwd,
                "env": dict(launch.env),
                "user": launch.user.name if launch.user else None,
                "uid": launch.user.uid if launch.user else None,
                "gid": launch.user.gid if launch.user else None,
            }
        )
    return result


# -- the caller's side --------------------------------------------------------------------


def contexts(paths: StatePaths, names: Sequence[str], every: bool) -> list[dict[str, Any]]:
    if live_supervisor(read_state(paths)) is None:
        raise LeapfrogError("the stack is not up", hint="`leapfrog up -d` starts it")
    try:
        answer = control.request(
            paths.control_socket, {"op": "contexts", "names": list(names), "all": every}
        )
    except OSError as exc:
        raise LeapfrogError(
            f"cannot reach the supervisor of {paths.root}: {exc.strerror or exc}",
            hint="is the stack up? `leapfrog status` tells",
        ) from None
    found: list[dict[str, Any]] = answer.get("contexts", [])
    if not found:
        raise LeapfrogError(
            "no instance to run the command in",
            hint="`--all` chooses every service instance; `leapfrog status` lists them",
        )
    return found


def exec_all(
    paths: StatePaths,
    names: Sequence[str],
    every: bool,
    argv: Sequence[str],
    *,
    parallel: int = 0,
    timeout: float | None = None,
    on_line: OnLine | None = None,
) -> list[ExecResult]:
    """Run `argv` in each chosen instance's context; results in the instances' order.

    `parallel`: at most this many at once (0: all). `timeout`: per instance; the
    command and everything it started are killed then."""
    chosen = contexts(paths, names, every)
    return asyncio.run(_run_all(chosen, argv, parallel, timeout, on_line))


async def _run_all(
    chosen: list[dict[str, Any]],
    argv: Sequence[str],
    parallel: int,
    timeout: float | None,
    on_line: OnLine | None,
) -> list[ExecResult]:
    gate = asyncio.Semaphore(parallel if parallel > 0 else len(chosen))
    forking = asyncio.Lock()

    async def one(ctx: dict[str, Any]) -> ExecResult:
        async with gate:
            return await _run_one(ctx, argv, timeout, on_line, forking)

    return list(await asyncio.gather(*(one(ctx) for ctx in chosen)))


def _user_options(ctx: dict[str, Any]) -> dict[str, Any]:
    uid = ctx.get("uid")
    if uid is None or uid == os.geteuid():
        return {}
    if os.geteuid() != 0:
        raise PermissionError(
            f"{ctx['instance']} runs as user {ctx['user']}; only root can run commands as them"
        )
    return {"user": uid, "group": ctx["gid"], "extra_groups": []}


@contextlib.asynccontextmanager
async def _network_of(ctx: dict[str, Any], forking: asyncio.Lock) -> AsyncIterator[None]:
    """The child is forked in the instance's network namespace, if it has one.

    setns(2) moves the calling thread, which is the event loop's: the lock keeps the other
    instances' forks out until this one is made (the fork itself happens before the first
    suspension of create_subprocess_exec)."""
    netns = ctx.get("netns")
    if netns is None:
        yield
        return
    async with forking:
        with contextlib.ExitStack() as inside:
            try:
                inside.enter_context(in_namespace(NETNS_DIR / netns))
            except FileNotFoundError:
                raise NetworkError(f"its network namespace {netns} is gone") from None
            yield


async def _run_one(
    ctx: dict[str, Any],
    argv: Sequence[str],
    timeout: float | None,
    on_line: OnLine | None,
    forking: asyncio.Lock,
) -> ExecResult:
    result = ExecResult(ctx["instance"], ctx["unit"])
    if ctx.get("state") == "stopped":
        result.error = "the instance is stopped"
        return result
    began = time.monotonic()
    try:
        async with _network_of(ctx, forking):
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=ctx["cwd"],
                env=ctx["env"],
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                **_user_options(ctx),
            )
    except NetworkError as exc:
        result.error = f"cannot enter the instance's network: {exc}"
        return result
    except FileNotFoundError:
        result.error = f"{argv[0]}: command not found (PATH={ctx['env'].get('PATH', '')})"
        return result
    except PermissionError as exc:
        if exc.filename is None:  # the user could not be switched to
            result.error = str(exc)
        elif "/" not in argv[0]:  # a PATH search that met a directory the user cannot enter
            who = f" by user {ctx['user']}" if ctx.get("user") else ""
            result.error = (
                f"{argv[0]}: command not found{who} (or not allowed to run it) "
                f"in PATH={ctx['env'].get('PATH', '')}"
            )
        else:
            result.error = f"{exc.filename}: permission denied"
        return result
    except OSError as exc:
        result.error = f"cannot start {argv[0]}: {exc.strerror or exc}"
        return result

    async def pump(stream: asyncio.StreamReader | None, kind: str, into: list[str]) -> None:
        if stream is None:
            return
        async for raw in stream:
            line = raw.decode(errors="replace").rstrip("\n")
            into.append(line)
            if on_line is not None:
                on_line(result.instance, kind, line)

    pumps = asyncio.gather(
        pump(proc.stdout, "stdout", result.stdout), pump(proc.stderr, "stderr", result.stderr)
    )
    try:
        async with asyncio.timeout(timeout):
            await pumps
            result.exit_code = await proc.wait()
    except TimeoutError:
        result.timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        pumps.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumps
        result.exit_code = TIMED_OUT
        result.error = f"timed out after {timeout:g}s; killed"
    finally:
        result.seconds = time.monotonic() - began
    return result
