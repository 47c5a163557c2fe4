"""When is a stack up? Every instance healthy (or a one-shot that completed), or one failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Readiness", "readiness"]


@dataclass(frozen=True)
class Readiness:
    verdict: Literal["waiting", "ready", "failed", "stopped"]
    failures: list[dict[str, Any]]
    healthy: int
    total: int


def readiness(snapshot: dict[str, Any]) -> Readiness:
    instances = snapshot.get("instances", [])
    failures = [i for i in instances if i.get("failure")]
    healthy = sum(1 for i in instances if i.get("state") == "healthy" or i.get("completed"))
    total = len(instances)
    if snapshot.get("stopping"):
        return Readiness("stopped", failures, healthy, total)
    if failures:
        return Readiness("failed", failures, healthy, total)
    if healthy == total:
        return Readiness("ready", [], healthy, total)
    return Readiness("waiting", [], healthy, total)
