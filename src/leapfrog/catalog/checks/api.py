"""The health checker's interface to the catalog, so each is built and tested alone.

The catalog parses a check definition from the HTTP API into `CheckDefinition`, hands it
to a `Checker`, and receives every status/output change through the `report` callback
(on the event loop). The checker owns timing (intervals, timeouts, TTL expiry) and the
consecutive-result thresholds; the catalog owns storage, indexes and reaping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = ["CheckDefinition", "Checker", "NotTTL", "Report", "Status"]

Status = Literal["passing", "warning", "critical"]


@dataclass(frozen=True)
class CheckDefinition:
    check_id: str
    kind: Literal["http", "tcp", "ttl"]
    http: str | None = None
    method: str = "GET"
    header: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    body: str = ""
    tls_skip_verify: bool = False
    tcp: str | None = None
    """host:port"""
    ttl: float | None = None
    interval: float = 10.0
    timeout: float = 10.0
    success_before_passing: int = 0
    failures_before_warning: int = 0
    failures_before_critical: int = 0
    output_max_size: int = 4096


Report = Callable[[str, Status, str], None]
"""report(check_id, status, output): a check's status or output changed."""


class NotTTL(Exception):
    """pass/warn/fail/update on a check that does not exist or has no TTL."""


class Checker(Protocol):
    def add(self, definition: CheckDefinition, status: Status) -> None:
        """Start (or restart, replacing the old definition) running a check."""
        ...

    def remove(self, check_id: str) -> None: ...

    def ttl_update(self, check_id: str, status: Status, output: str) -> None:
        """A TTL check's heartbeat; raises NotTTL for unknown or non-TTL checks."""
        ...

    async def close(self) -> None:
        """Cancel every running check and wait for them to finish."""
        ...
