"""Running a supervisor: in this process (foreground `up`) or detached (`up -d`).

Detaching forks this very process (twice, with a new session), so the daemon starts
with the stack already loaded and validated instead of paying for a new interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

from leapfrog.runtime.local.control_server import ControlServer
from leapfrog.runtime.local.stopping import StopGuard
from leapfrog.runtime.local.supervisor import Supervisor
from leapfrog.shared.errors import LeapfrogError

__all__ = ["detach", "serve"]


async def serve(
    supervisor: Supervisor,
    on_ready: Callable[[], None] = lambda: None,
    companion: Callable[[Supervisor], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Start everything, run until asked to stop (signal or `down`), then stop everything."""
    loop = asyncio.get_running_loop()
    server = ControlServer(supervisor, supervisor.paths.control_socket)
    await server.start()

    def stop_asked() -> None:
        if supervisor.stop_requested.is_set():
            supervisor.log_line("asked again to stop: killing every process now")
            supervisor.kill_everything()
            return
        supervisor.stop_requested.set()

    guard = StopGuard(supervisor, stop_asked)
    guard.install()
    supervisor.write_state()
    supervisor.start()
    on_ready()
    side = loop.create_task(companion(supervisor)) if companion else None
    try:
        await supervisor.stop_requested.wait()
        guard.arm()
        await supervisor.shutdown()
        await asyncio.sleep(0.05)  # let watchers read the final snapshot
    finally:
        if side is not None:
            side.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await side
        await server.close()
        guard.uninstall()


def detach(make: Callable[[], Supervisor], log_path: str) -> int:
    """Fork a daemon that runs `serve`; return its pid once its control socket listens."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    # What the command loaded (the stack, its models, the modules) lives as long as the
    # daemon: out of the collector's sight, the daemon's collections do not walk it, nor
    # touch (and so copy) the pages it shares with this process.
    gc.freeze()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            _daemon_main(make, log_path, write_end)
        finally:
            os._exit(1)
    gc.unfreeze()  # this process goes on as it was
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read()
    if not answer.startswith(b"ready "):
        message = answer.decode(errors="replace").strip()
        raise LeapfrogError(
            f"the supervisor did not start{': ' + message if message else ''}",
            hint=f"see {log_path}",
        )
    return int(answer.split()[1])


def _daemon_main(make: Callable[[], Supervisor], log_path: str, pipe: int) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115

    def ready() -> None:
        os.write(pipe, f"ready {os.getpid()}\n".encode())
        os.close(pipe)

    code = 0
    try:
        asyncio.run(_run(make, ready))
    except BaseException as exc:  # the daemon's last word goes to its log, not a terminal
        traceback.print_exc()
        with contextlib.suppress(OSError):
            os.write(pipe, f"{type(exc).__name__}: {exc}\n".encode())
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def _run(make: Callable[[], Supervisor], ready: Callable[[], None]) -> None:
    await serve(make(), ready)
