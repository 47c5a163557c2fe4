"""What a supervisor that is gone left behind, and stopping it without one.

state.json names every instance's pid with its start time, so `down` and `up` can
find processes of a supervisor that was killed and never mistake a reused pid.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leapfrog.runtime.local.paths import StatePaths
from leapfrog.shared.files import read_json
from leapfrog.shared.procs import group_alive, is_running, kill_group

__all__ = ["Leftover", "leftovers", "live_supervisor", "read_state", "stop_leftovers"]


@dataclass(frozen=True)
class Leftover:
    name: str
    pid: int
    start_ticks: int
    config_hash: str
    grace: float


def read_state(paths: StatePaths) -> dict[str, Any] | None:
    state = read_json(paths.state_file)
    return state if isinstance(state, dict) else None


def live_supervisor(state: dict[str, Any] | None) -> int | None:
    """The pid of the supervisor that wrote `state`, if it still runs."""
    if not state:
        return None
    sup = state.get("supervisor") or {}
    pid, ticks = sup.get("pid"), sup.get("start_ticks")
    if isinstance(pid, int) and isinstance(ticks, int) and is_running(pid, ticks):
        return pid
    return None


def leftovers(state: dict[str, Any] | None) -> list[Leftover]:
    """Instances recorded in `state` whose process still runs."""
    found = []
    for item in (state or {}).get("instances", []):
        pid, ticks = item.get("pid"), item.get("start_ticks")
        if isinstance(pid, int) and isinstance(ticks, int) and is_running(pid, ticks):
            found.append(
                Leftover(
                    name=str(item.get("name")),
                    pid=pid,
                    start_ticks=ticks,
                    config_hash=str(item.get("config_hash")),
                    grace=float(item.get("stop_grace_period", 10.0)),
                )
            )
    return found


def stop_leftovers(items: list[Leftover], on_stopped: Callable[[Leftover], None]) -> None:
    """SIGTERM every group at once, SIGKILL each whose grace period runs out."""
    start = time.monotonic()
    for item in items:
        kill_group(item.pid, signal.SIGTERM)
    pending = list(items)
    while pending:
        now = time.monotonic() - start
        for item in list(pending):
            if not group_alive(item.pid):
                pending.remove(item)
                on_stopped(item)
            elif now >= item.grace:
                kill_group(item.pid, signal.SIGKILL)
        time.sleep(0.02)
