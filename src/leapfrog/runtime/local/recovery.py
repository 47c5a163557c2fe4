"""What a supervisor that is gone left behind, and stopping it without one.

state.json names every instance's pid with its start time, so `down` and `up` can
find processes of a supervisor that was killed and never mistake a reused pid, and its
cgroup, which still holds whatever the instance started after its leader died (say the
load balancer's HAProxy once `leapfrog lb run` was killed).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from leapfrog.runtime.local.cgroups import InstanceCgroup
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.shared.files import read_json
from leapfrog.shared.procs import (
    group_alive,
    is_running,
    kill_group,
    kill_process,
    orphaned_group,
)

__all__ = [
    "Leftover",
    "leftovers",
    "live_supervisor",
    "read_state",
    "remove_cgroups",
    "stop_leftovers",
]


class Leftover(NamedTuple):
    """(A NamedTuple: `scale` loads this module before its request, see paths.py.)"""

    name: str
    pid: int | None
    """The instance's leader, or None when only what it started is left."""
    start_ticks: int | None
    config_hash: str
    grace: float
    cgroup: InstanceCgroup | None = None
    orphans_of: tuple[int, int] | None = None
    """Without a cgroup: (pid, start time) of the dead leader whose group is left."""
    unit: str = ""

    def members(self) -> list[int]:
        found = self.cgroup.pids() if self.cgroup is not None else []
        if self.orphans_of is not None:
            found += orphaned_group(*self.orphans_of)
        return found

    def alive(self) -> bool:
        leader = self.pid is not None and group_alive(self.pid)
        return leader or bool(self.members())

    def kill(self, sig: int) -> None:
        if self.pid is not None:
            kill_group(self.pid, sig)
        elif self.orphans_of is not None and orphaned_group(*self.orphans_of):
            kill_group(self.orphans_of[0], sig)
        if self.cgroup is not None:
            if sig == signal.SIGKILL:
                self.cgroup.kill()
            elif self.pid is None:  # no leader to tell: each process gets the signal
                for pid in self.cgroup.pids():
                    kill_process(pid, sig)


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
    """Instances recorded in `state` whose process still runs, or that left processes
    behind when their leader died (in their cgroup, or else in their process group)."""
    found = []
    for item in (state or {}).get("instances", []):
        pid, ticks = item.get("pid"), item.get("start_ticks")
        if not (isinstance(pid, int) and isinstance(ticks, int)):
            pid = ticks = None
        leader = pid is not None and is_running(pid, ticks)
        path = item.get("cgroup")
        cgroup = InstanceCgroup(Path(path)) if isinstance(path, str) and path else None
        orphans_of = (pid, ticks) if not leader and pid is not None and ticks is not None else None
        if cgroup is not None:
            orphans_of = None  # the cgroup holds them all
        left = Leftover(
            name=str(item.get("name")),
            pid=pid if leader else None,
            start_ticks=ticks if leader else None,
            config_hash=str(item.get("config_hash")),
            grace=float(item.get("stop_grace_period", 10.0)),
            cgroup=cgroup,
            orphans_of=orphans_of,
            unit=str(item.get("unit") or ""),
        )
        if leader or left.members():
            found.append(left)
    return found


def stop_leftovers(items: list[Leftover], on_stopped: Callable[[Leftover], None]) -> None:
    """SIGTERM every group at once, SIGKILL each whose grace period runs out (and, once
    its leader is gone, whatever is left in its cgroup)."""
    start = time.monotonic()
    for item in items:
        item.kill(signal.SIGTERM)
    pending = list(items)
    while pending:
        now = time.monotonic() - start
        for item in list(pending):
            leader_gone = item.pid is None or not group_alive(item.pid)
            if leader_gone and item.cgroup is not None and item.cgroup.pids():
                item.cgroup.kill()  # no leader to wait for
            if not item.alive():
                pending.remove(item)
                if item.cgroup is not None:
                    item.cgroup.remove()
                on_stopped(item)
            elif now >= item.grace:
                item.kill(signal.SIGKILL)
        time.sleep(0.02)


def remove_cgroups(paths: StatePaths) -> None:
    """The stack's cgroup directories, once nothing runs in them (a supervisor that was
    killed could not remove them)."""
    try:
        recorded = paths.cgroup_record.read_text().strip()
    except OSError:
        return
    if recorded:
        InstanceCgroup(Path(recorded)).remove()
