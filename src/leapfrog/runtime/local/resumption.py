"""A rollout its supervisor was killed in the middle of, carried on by the next `up`.

A supervisor killed outright (SIGKILL, the OOM killer) leaves its instances running:
each runs in a session of its own, so no signal of the supervisor's reaches it; it
writes its output to a named pipe it holds open itself (logwriter.py), so it never
meets a closed pipe; and the catalog and the load balancer, instances too, go on
serving it. What dies with the supervisor is what runs inside it: the health checks,
the log writer, the telemetry collector, the autoscaler, and the rollout.

The rollout's record under the state dir (revisions.py) names the two revisions it was
moving between. `up` adopts each instance left running whose launch is what one of
them builds for it (the same config hash): the old revision's instances and the surge
ones too, as they run, instead of stopping every instance the stack file changed at
once. The supervisor then resumes the rollout (`Rollouts.started`): the instances of
the old revision are replaced a step at a time with the service's strategy
(`max_surge`, `max_unavailable`, `min_ready`), each out of the load balancer and drained
first, as in any rollout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from leapfrog.runtime.local import revisions
from leapfrog.runtime.local.launch import Launch, revision_launches
from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from leapfrog.runtime.local.paths import StatePaths
    from leapfrog.runtime.local.recovery import Leftover
    from leapfrog.spec import Stack

__all__ = ["CarriedOver", "carry_over"]


@dataclass(frozen=True)
class CarriedOver:
    """Instances of an interrupted rollout, adopted as they run."""

    launches: dict[str, Launch] = field(default_factory=dict)
    """Instance name -> the launch it runs (of its revision, not the stack file's)."""
    revisions: dict[str, int] = field(default_factory=dict)
    """Instance name -> the revision it runs."""


def carry_over(stack: Stack, paths: StatePaths, left: Iterable[Leftover]) -> CarriedOver:
    """Of `left` (instances still running that the stack file would replace or drop),
    those of a service whose rollout was in progress, running what its source or target
    revision builds for them."""
    found = CarriedOver()
    by_service: dict[str, list[Leftover]] = {}
    for item in left:
        running = item.pid is not None and item.start_ticks is not None
        if running and item.unit in stack.spec.services:
            by_service.setdefault(item.unit, []).append(item)
    for service, items in by_service.items():
        record = revisions.load(paths.root, service)
        progress = record.rollout
        if progress is None or not progress.active:
            continue
        count = max([stack.spec.services[service].replicas, *(_index(i) for i in items)])
        for number in dict.fromkeys((progress.target, progress.source)):
            revision = record.revision(number) if number is not None else None
            if revision is None:
                continue
            try:
                built = revision_launches(stack, paths, service, revision.section, count)
            except LeapfrogError:
                continue  # that revision no longer builds: its instances are stopped
            launches = {launch.name: launch for launch in built}
            for item in items:
                launch = launches.get(item.name)
                if launch is not None and launch.config_hash == item.config_hash:
                    found.launches.setdefault(item.name, launch)
                    found.revisions.setdefault(item.name, revision.number)
    return found


def _index(item: Leftover) -> int:
    tail = item.name.rpartition("-")[2]
    return int(tail) if tail.isdigit() else 0
