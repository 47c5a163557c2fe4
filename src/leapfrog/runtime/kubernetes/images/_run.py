"""Running a long build step: each output line to the progress callback, its last lines
in the error when it fails."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping

from leapfrog.shared.errors import LeapfrogError

__all__ = ["Progress", "run_streaming"]

Progress = Callable[[str], None]


def run_streaming(
    argv: list[str],
    what: str,
    progress: Progress | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Runs `argv` to its end; raises LeapfrogError naming `what` when it fails."""
    tail: list[str] = []
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        env=None if env is None else dict(env),
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            if line:
                tail = [*tail[-19:], line]
                if progress is not None:
                    progress(line[:120])
    if proc.returncode != 0:
        raise LeapfrogError(
            f"{what} failed (exit {proc.returncode}):\n" + "\n".join(tail),
            hint=f"the command was: {' '.join(argv)}",
        )
