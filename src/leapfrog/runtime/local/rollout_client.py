"""The caller's side of `leapfrog rollout`: one request to the running supervisor's
control socket (see rollouts.py for what it does)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from leapfrog.runtime.local import control, revisions
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.runtime.local.recovery import live_supervisor, read_state
from leapfrog.shared.errors import LeapfrogError

__all__ = ["FINAL", "follow", "history_of", "request_rollout"]

FINAL = ("complete", "reverted", "failed", "paused")
"""Phases `rollout status` stops waiting at."""


def request_rollout(
    paths: StatePaths, action: str, name: str, timeout: float = 30.0, **extra: Any
) -> dict[str, Any]:
    if live_supervisor(read_state(paths)) is None:
        raise LeapfrogError("the stack is not up", hint="`leapfrog up -d` starts it")
    try:
        answer = control.request(
            paths.control_socket,
            {"op": "rollout", "action": action, "name": name, **extra},
            timeout=timeout,
        )
    except OSError as exc:
        raise LeapfrogError(
            f"no answer from the supervisor of {paths.root}: {exc.strerror or exc}",
            hint="`leapfrog status` shows whether it runs",
        ) from None
    body: dict[str, Any] = answer
    return body


def follow(paths: StatePaths, name: str, timeout: float, every: float = 0.5) -> Iterator[Any]:
    """The rollout's status each time it changes, until it is in a FINAL phase (the last
    one yielded) or `timeout` passes (LeapfrogError)."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    while True:
        seen = request_rollout(paths, "status", name)
        if seen != last:
            yield seen
            last = seen
        if seen.get("phase") in FINAL:
            return
        if time.monotonic() > deadline:
            raise LeapfrogError(
                f"{name}: the rollout did not finish within {timeout:g}s: {seen.get('message')}",
                hint=f"it goes on; `leapfrog rollout status {name}` keeps waiting",
            )
        time.sleep(every)


def history_of(paths: StatePaths, name: str) -> dict[str, Any]:
    """A service's revisions as kept in the state directory (for a stack that is down)."""
    record = revisions.load(paths.root, name)
    if not record.revisions:
        raise LeapfrogError(
            f"no revisions recorded for {name!r} in {paths.root}",
            hint="revisions are recorded from the first `leapfrog up` of a service on",
        )
    body = record.as_dict()
    return {"service": name, "current": body["current"], "revisions": body["revisions"]}
