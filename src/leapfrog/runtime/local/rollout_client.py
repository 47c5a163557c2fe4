"""The caller's side of `leapfrog rollout`: one request to the running supervisor's
control socket (see rollouts.py for what it does), behind the contract every target
answers (runtime/rollout_control.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from leapfrog.runtime.local import control, revisions
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.runtime.local.recovery import live_supervisor, read_state
from leapfrog.runtime.rollout_control import FINAL
from leapfrog.shared.errors import LeapfrogError

__all__ = ["FINAL", "LocalRollouts", "follow", "history_of", "request_rollout"]


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
    return {
        "service": name,
        "current": body["current"],
        "revisions": body["revisions"],
        "canary": record.canary(),
    }


class LocalRollouts:
    """`leapfrog rollout` on this machine: the running supervisor's rollouts, and the
    history kept in the state directory while the stack is down."""

    def __init__(self, paths: StatePaths, running: bool) -> None:
        self.paths = paths
        self.running = running

    def _request(self, action: str, name: str, **extra: Any) -> dict[str, Any]:
        if not self.running:
            raise LeapfrogError(
                "the stack is not up on this machine",
                hint="`leapfrog up -d` starts it; `--target kubernetes` acts on the "
                "stack's Deployment on the cluster",
            )
        return request_rollout(self.paths, action, name, **extra)

    def status(self, name: str) -> dict[str, Any]:
        return self._request("status", name)

    def follow(self, name: str, timeout: float) -> Iterator[dict[str, Any]]:
        if not self.running:
            self._request("status", name)
        return follow(self.paths, name, timeout)

    def history(self, name: str) -> dict[str, Any]:
        if self.running:
            return self._request("history", name)
        return history_of(self.paths, name)

    def undo(self, name: str, to: int | None) -> dict[str, Any]:
        extra = {"to": to} if to is not None else {}
        return self._request("undo", name, **extra)

    def pause(self, name: str) -> dict[str, Any]:
        return self._request("pause", name)

    def resume(self, name: str) -> dict[str, Any]:
        return self._request("resume", name)

    def promote(self, name: str, timeout: float = 300.0) -> dict[str, Any]:
        """The supervisor carries the rollout on by itself: nothing to wait for here."""
        del timeout
        return self._request("promote", name)
