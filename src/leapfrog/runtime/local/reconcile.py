"""`up` on a stack that is already up: bring the running instances to the new stack file.

New instances start (after their dependencies, as at first start), instances that are
gone stop, and instances whose launch changed are replaced one at a time per service,
each new one healthy before the next old one stops, so a service keeps serving.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from leapfrog.runtime.local.launch import Launch

if TYPE_CHECKING:
    from leapfrog.runtime.local.instance import Instance
    from leapfrog.runtime.local.supervisor import Supervisor

__all__ = ["Changes", "diff", "identity_turned", "needs_replacing", "replace_rolling"]


@dataclass(frozen=True)
class Changes:
    start: list[str] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    replace: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    reconfigure: list[str] = field(default_factory=list)
    """Kept components whose options changed what `setup` creates (topics, databases)."""

    def summary(self) -> dict[str, list[str]]:
        return {
            "start": self.start,
            "stop": self.stop,
            "replace": self.replace,
            "keep": self.keep,
            "reconfigure": self.reconfigure,
        }


def needs_replacing(old: Launch, new: Launch) -> bool:
    """Anything that a running process cannot pick up by itself means a new process."""
    return old.config_hash != new.config_hash or (
        old.check,
        old.check_argv,
        old.restart,
        old.stop_signal,
        old.stop_grace_period,
    ) != (new.check, new.check_argv, new.restart, new.stop_signal, new.stop_grace_period)


def diff(current: Mapping[str, Launch], wanted: Mapping[str, Launch]) -> Changes:
    """What to do, by instance name, to go from the `current` launches to the `wanted` ones."""
    changes = Changes()
    for name, launch in wanted.items():
        if name not in current:
            changes.start.append(name)
        elif needs_replacing(current[name], launch):
            changes.replace.append(name)
        else:
            changes.keep.append(name)
            old, new = current[name].component, launch.component
            if old is not None and new is not None and old.options != new.options:
                changes.reconfigure.append(name)
    changes.stop.extend(name for name in current if name not in wanted)
    return changes


def _identity_on(launches: Iterable[Launch]) -> bool:
    return any(launch.tls for launch in launches)


def identity_turned(current: Iterable[Launch], wanted: Iterable[Launch]) -> str:
    """ "on" or "off" when the change turns service identity on or off, else "".

    It decides the order of the replacements: turned on, the components first (the load
    balancer comes back with its certificate and speaks each instance's protocol), then
    the services; turned off, the services first (the load balancer still has its
    certificate), then the components. Side by side, a proxy that lost its certificate
    would meet services still serving mutual TLS."""
    before, after = _identity_on(current), _identity_on(wanted)
    if before == after:
        return ""
    return "on" if after else "off"


async def replace_rolling(sup: Supervisor, pairs: list[tuple[Instance, Launch]]) -> None:
    """Replace instances of one unit one at a time, waiting for each to come up again."""
    for instance, launch in pairs:
        await instance.replace(launch)
        while not (instance.state == "healthy" or instance.completed or instance.failure):
            await sup.changed()
        if instance.failure:
            sup.log_line(f"{instance.name}: replacement failed, the rest of the rollout is held")
            for held, _ in pairs[pairs.index((instance, launch)) + 1 :]:
                held.pending = False
            return
