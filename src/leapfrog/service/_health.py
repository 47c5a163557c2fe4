"""The instance's own view of its health: starting, ready or draining, and what a TTL
check reports (passing, warning or critical, with a reason)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Health", "Phase", "Status"]

Phase = Literal["starting", "ready", "draining"]
Status = Literal["passing", "warning", "critical"]


@dataclass
class Health:
    """Shared by the readiness endpoint, the TTL heartbeat and the shutdown sequence.

    A service reports trouble with `warn(reason)` or `fail(reason)` and recovery with
    `ok()`; with a TTL check the next heartbeat carries it at once, with an HTTP check
    `/health/ready` answers 429 (warning) or 503 (critical)."""

    phase: Phase = "starting"
    status: Status = "passing"
    reason: str = ""
    _changed: asyncio.Event | None = field(default=None, repr=False)

    def ok(self, reason: str = "") -> None:
        self._set("passing", reason)

    def warn(self, reason: str) -> None:
        self._set("warning", reason)

    def fail(self, reason: str) -> None:
        self._set("critical", reason)

    @property
    def ready(self) -> bool:
        return self.phase == "ready" and self.status != "critical"

    def effective(self) -> tuple[Status, str]:
        """What the catalog should be told now."""
        if self.phase == "starting":
            return "critical", "starting"
        if self.phase == "draining":
            return "critical", "draining: shutting down"
        return self.status, self.reason or f"{self.status}"

    def _set(self, status: Status, reason: str) -> None:
        self.status, self.reason = status, reason
        self.notify()

    def notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def bind(self) -> asyncio.Event:
        """An event set on every change, for the heartbeat to wake early."""
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed
