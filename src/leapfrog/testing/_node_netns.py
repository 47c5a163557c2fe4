"""Run Python code inside another network namespace, from a test process that stays in
its own: a thread of its own joins the namespace (setns applies to the calling thread
only), so the sockets it opens, the threads and the child processes it starts are all
there, while the rest of the process keeps the host's network (the runtime's own
`join_namespace`, libc's setns: Python 3.11 has no `os.setns`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from leapfrog.runtime.local.network.setns import join_namespace
from leapfrog.shared.errors import LeapfrogError

__all__ = ["call_in_netns"]

T = TypeVar("T")


def _join(path: Path) -> None:
    try:
        join_namespace(path)
    except OSError as exc:
        raise LeapfrogError(f"cannot enter the network namespace {path}: {exc.strerror}") from None


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
