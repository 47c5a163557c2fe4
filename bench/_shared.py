"""What every benchmark does the same way: time a `leapfrog` command, check an `up -d`,
report a failed round, and finish cleaning up whatever Ctrl-C says."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "BenchError",
    "RunCli",
    "bench_env",
    "checked_up",
    "cli_ok",
    "no_interrupt",
    "tail",
    "timed_cli",
]

RunCli = Callable[..., tuple[int, float, str]]
"""run_cli(stack, *args, timeout=...) -> (exit status, seconds, output)"""


class BenchError(Exception):
    """A round could not be measured: the message says what went wrong."""


def tail(text: str, lines: int = 15) -> str:
    return "\n".join("  | " + line for line in text.rstrip().splitlines()[-lines:])


@contextlib.contextmanager
def no_interrupt() -> Iterator[None]:
    """Let cleanup finish even if Ctrl-C is pressed again (only in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def bench_env(marker: str, pycache: str, root: Path, **extra: str) -> dict[str, str]:
    """The environment of a measured command: marked (so leftovers can be found), and
    with a bytecode cache of its own when `pycache` is "warm"."""
    env = {**os.environ, "LEAPFROG_BENCH": marker, **extra}
    env.pop("LEAPFROG_FILE", None)
    if pycache == "warm":
        # Compiled modules are kept here, not next to the sources; the warm-up round
        # fills the cache, as any earlier run of leapfrog would on a user's machine.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    return env


def timed_cli(
    cli: Path, stack: Path, args: tuple[str, ...], timeout: float, env: dict[str, str]
) -> tuple[int, float, str]:
    """Run `leapfrog -f STACK ARGS...`: (exit status, seconds from spawn to exit, output).

    Output goes to a file, not a pipe, so the time is the command's own and never waits
    on a pipe some child might keep open.
    """
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(cli), "-f", str(stack), *args],
            cwd=stack.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            code = proc.wait(timeout=timeout)
        except BaseException:
            proc.kill()
            proc.wait(timeout=5)
            raise
        elapsed = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode(errors="replace")
    return code, elapsed, text


def cli_ok(run_cli: RunCli, stack: Path, *args: str, timeout: float) -> str:
    """A quick command that must succeed; its output."""
    try:
        code, _, text = run_cli(stack, *args, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"`leapfrog {' '.join(args)}` took over {timeout:g}s") from None
    if code != 0:
        raise BenchError(f"`leapfrog {' '.join(args)}` exited {code}:\n{tail(text)}")
    return text


def checked_up(
    run_cli: RunCli, stack: Path, count: int, timeout: float, status_timeout: float
) -> tuple[float, str, list[dict[str, Any]]]:
    """One timed `up -d`, then `status` must agree that all `count` instances are healthy:
    (seconds, output of `up`, the instances)."""
    try:
        code, elapsed, text = run_cli(stack, "up", "-d", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"`leapfrog up -d` took over {timeout:g}s") from None
    if code != 0:
        raise BenchError(f"`leapfrog up -d` exited {code}:\n{tail(text)}")
    instances = json.loads(cli_ok(run_cli, stack, "status", "--json", timeout=status_timeout))
    unhealthy = [i["name"] for i in instances if i.get("state") != "healthy"]
    if len(instances) != count or unhealthy:
        raise BenchError(
            f"`up -d` returned but {len(instances)} instance(s) are known "
            f"and these are not healthy: {', '.join(unhealthy) or 'none'}"
        )
    return elapsed, text, instances
