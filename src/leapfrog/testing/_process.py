"""Ending a server a test started: asked first, killed when it does not go."""

from __future__ import annotations

import subprocess

__all__ = ["end_process"]


def end_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, up to `timeout` seconds for it to exit, then SIGKILL; always reaped."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
