"""When is a stack up? Every instance healthy (or a one-shot that completed), or one failed."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

__all__ = ["Readiness", "readiness", "timed_out"]

_ROLLING = ("progressing", "reverting")
_FAILED = ("failed", "reverted")


class Readiness(NamedTuple):
    """(A NamedTuple: this module loads with the local runtime's package, which `scale`
    reads before its request, and `dataclasses` costs ~8 ms of CPU to import.)"""

    verdict: Literal["waiting", "ready", "failed", "stopped", "timeout"]
    failures: list[dict[str, Any]]
    healthy: int
    total: int


def _up(instance: dict[str, Any]) -> bool:
    if instance.get("pending"):
        return False
    return instance.get("state") == "healthy" or bool(instance.get("completed"))


def timed_out(snapshot: dict[str, Any], waited: str) -> Readiness:
    """The verdict when the caller stopped waiting: every instance not yet up has failed."""
    instances = snapshot.get("instances", [])
    late = [
        {
            **i,
            "failure": i.get("failure")
            or f"not healthy within {waited}: {i.get('last_check') or i.get('detail')}",
        }
        for i in instances
        if not _up(i)
    ]
    return Readiness("timeout", late, len(instances) - len(late), len(instances))


def readiness(snapshot: dict[str, Any]) -> Readiness:
    """A rollout the last apply began (`rollouts`) is waited for until it ends, whatever
    its new instances do meanwhile (it reverts them itself); one that failed or was
    reverted is a failure, with its reason."""
    instances = snapshot.get("instances", [])
    rollouts: dict[str, dict[str, Any]] = snapshot.get("rollouts") or {}
    failures = [i for i in instances if i.get("failure")]
    healthy = sum(1 for i in instances if _up(i))
    total = len(instances)
    if snapshot.get("stopping"):
        return Readiness("stopped", failures, healthy, total)
    if any(r.get("phase") in _ROLLING for r in rollouts.values()):
        return Readiness("waiting", [], healthy, total)
    failures += [
        {"name": f"{service} (rollout)", "failure": r.get("message")}
        for service, r in rollouts.items()
        if r.get("phase") in _FAILED
    ]
    if failures:
        return Readiness("failed", failures, healthy, total)
    if healthy == total:
        return Readiness("ready", [], healthy, total)
    return Readiness("waiting", [], healthy, total)
