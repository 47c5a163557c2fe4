"""Timing one `leapfrog` command, the same way in every benchmark."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["bench_env", "timed_cli"]


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
