"""The supervisor's own events, as structured log events: an instance started, exited
(with its status or signal), is restarting, changed health, went into a crash loop,
stopped. Derived from the changes the supervisor publishes, one instance at a time."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from leapfrog.runtime.local.instance import Instance, InstanceState

__all__ = ["LifecycleEvents"]

Event = dict[str, object]


@dataclass
class _Seen:
    state: InstanceState
    pid: int | None
    restarts: int


class LifecycleEvents:
    """Turns each published change of an instance into zero or more events."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}

    def events(self, instance: Instance) -> list[Event]:
        before = self._seen.get(instance.name)
        now = _Seen(instance.state, instance.pid, instance.restarts)
        self._seen[instance.name] = now
        found: list[Event] = []
        base: Event = {
            "logger": "leapfrog.supervisor",
            "state": str(instance.state),
            "detail": instance.detail,
            "restarts": instance.restarts,
        }
        old_pid = before.pid if before else None
        if now.pid is not None and now.pid != old_pid:
            found.append({**base, "event": "started", "level": "info", "pid": now.pid})
        if old_pid is not None and now.pid is None:
            found.append(self._exited(instance, base, old_pid))
        restarting = now.state == InstanceState.STARTING and "restarting in" in instance.detail
        if restarting and (before is None or before.restarts != now.restarts):
            found.append({**base, "event": "restarting", "level": "warning"})
        if now.state == InstanceState.CRASHLOOP and (before is None or before.state != now.state):
            failure = instance.failure or instance.detail
            found.append({**base, "event": "crashloop", "level": "error", "failure": failure})
        if before is not None and before.state != now.state:
            health = {InstanceState.HEALTHY, InstanceState.UNHEALTHY}
            if now.state in health:
                level = "info" if now.state == InstanceState.HEALTHY else "warning"
                found.append({**base, "event": "health", "level": level, "from": str(before.state)})
            elif now.state == InstanceState.STOPPED and now.pid is None:
                found.append({**base, "event": "stopped", "level": "info"})
        for event in found:
            event["message"] = f"{instance.name} {event['event']}: {instance.detail}"
        return found

    @staticmethod
    def _exited(instance: Instance, base: Event, pid: int) -> Event:
        code = instance.exit_code
        event: Event = {**base, "event": "exited", "pid": pid, "exit_code": code}
        if code is not None and code < 0:
            try:
                event["signal"] = signal.Signals(-code).name
            except ValueError:
                event["signal"] = str(-code)
        stopped = instance.state == InstanceState.STOPPED and instance.detail == "stopped"
        clean = code == 0 or stopped
        event["level"] = "info" if clean else "error"
        return event
