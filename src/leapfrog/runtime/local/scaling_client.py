"""The caller's side of `leapfrog scale`: one request to the running supervisor's control
socket, then its snapshots until the new instances are healthy (see scaling.py for what
the supervisor does). It loads no asyncio: the command's start is part of what a user
waits for until the new instances serve."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from leapfrog.runtime.local.paths import StatePaths

__all__ = ["request_scale", "wait_started"]


def request_scale(paths: StatePaths, wanted: dict[str, str], timeout: float) -> dict[str, Any]:
    """Ask the running supervisor to scale; answers once the leaving instances have
    stopped (the new ones may still be starting: `wait_started` follows them)."""
    from leapfrog.runtime.local import control
    from leapfrog.runtime.local.recovery import live_supervisor, read_state

    if live_supervisor(read_state(paths)) is None:
        raise LeapfrogError("the stack is not up", hint="`leapfrog up -d` starts it")
    try:
        answer = control.request(
            paths.control_socket, {"op": "scale", "replicas": wanted}, timeout=timeout
        )
    except OSError as exc:
        raise LeapfrogError(
            f"no answer from the supervisor of {paths.root}: {exc.strerror or exc}",
            hint="`leapfrog status` shows where the scaling got to",
        ) from None
    scaled: dict[str, Any] = answer["scaled"]
    return scaled


def wait_started(
    snapshots: Iterator[dict[str, Any]], names: set[str], deadline: float
) -> dict[str, str]:
    """Follow `names` until each is healthy or has failed; their last states by name
    (`late` for those still starting at the deadline)."""
    states: dict[str, str] = dict.fromkeys(names, "late")
    for snapshot in snapshots:
        for item in snapshot.get("instances", []):
            if item["name"] in names:
                failed = item.get("failure") or item["state"] in ("crashloop", "stopped")
                states[item["name"]] = "failed" if failed else item["state"]
        if all(states[n] in ("healthy", "failed") for n in names):
            return states
        if time.monotonic() > deadline:
            break
    return {n: s if s in ("healthy", "failed") else "late" for n, s in states.items()}
