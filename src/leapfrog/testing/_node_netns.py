"""Run Python code inside another network namespace, from a test process that stays in
its own: a thread of its own joins the namespace (setns applies to the calling thread
only), so the sockets it opens, the threads and the child processes it starts are all
there, while the rest of the process keeps the host's network. Python 3.11 has no
`os.setns`: libc's is called through ctypes."""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from leapfrog.shared.errors import LeapfrogError

__all__ = ["call_in_netns"]

T = TypeVar("T")
_CLONE_NEWNET = 0x40000000


def _join(path: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise LeapfrogError(f"cannot enter the network namespace {path}: {os.strerror(errno)}")
    finally:
        os.close(fd)


def call_in_netns(path: Path, fn: Callable[[], T], timeout: float = 300.0) -> T:
    """`fn()` run in a thread that joined the network namespace `path` (e.g.
    `/proc/PID/ns/net`); its result, or the exception it raised. A process started from
    `fn` (subprocess.Popen) is in that namespace for its whole life."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            _join(path)
            outcome.append(fn())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="in-netns", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise LeapfrogError(f"a call in the network namespace {path} took over {timeout:.0f} s")
    if failure:
        raise failure[0]
    return outcome[0]
