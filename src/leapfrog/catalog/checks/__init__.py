"""Health checks for the catalog: HTTP, TCP and TTL checks with Consul's semantics."""

from __future__ import annotations

from leapfrog.catalog.checks._checker import MIN_INTERVAL, AsyncChecker
from leapfrog.catalog.checks.api import CheckDefinition, Checker, NotTTL, Report, Status

__all__ = [
    "MIN_INTERVAL",
    "CheckDefinition",
    "Checker",
    "NotTTL",
    "Report",
    "Status",
    "make_checker",
]


def make_checker(report: Report, *, min_interval: float = MIN_INTERVAL) -> Checker:
    """A checker reporting through `report`; call it from the running event loop.

    min_interval is Consul's 1 s floor on Interval; tests lower it to run quickly.
    """
    return AsyncChecker(report, min_interval=min_interval)
