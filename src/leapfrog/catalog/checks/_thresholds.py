"""Consecutive-result thresholds between a check's runs and what the catalog sees.

Mirrors Consul's status handler: counters start at their thresholds so the first result
after registration is reported at once; afterwards a passing (or warning) result needs
`success_before_passing` in a row, a failing one `failures_before_warning` in a row to
show as warning and `failures_before_critical` to show as critical. Each kind of result
resets the other's counter.
"""

from __future__ import annotations

import logging

from leapfrog.catalog.checks.api import Report, Status

__all__ = ["StatusGate"]

_log = logging.getLogger(__name__)


class StatusGate:
    """Filters raw check results through the thresholds, reporting only changes."""

    def __init__(
        self,
        check_id: str,
        report: Report,
        status: Status,
        *,
        success_before_passing: int = 0,
        failures_before_warning: int = 0,
        failures_before_critical: int = 0,
    ) -> None:
        self._check_id = check_id
        self._report = report
        self._shown: tuple[Status, str] = (status, "")
        self._success_needed = success_before_passing
        self._critical_needed = failures_before_critical
        # Consul: an unset warning threshold means "the same as the critical one".
        self._warning_needed = failures_before_warning or failures_before_critical
        self._successes = success_before_passing
        self._failures = failures_before_critical

    def result(self, status: Status, output: str) -> None:
        """One run's raw result."""
        if status != "critical":
            self._successes += 1
            self._failures = 0
            if self._successes >= self._success_needed:
                self.show(status, output)
            return
        self._failures += 1
        self._successes = 0
        if self._failures >= self._critical_needed:
            self.show("critical", output)
        elif self._failures >= self._warning_needed:
            self.show("warning", output)

    def show(self, status: Status, output: str) -> None:
        """Report status and output unless they are what the catalog already has."""
        if (status, output) == self._shown:
            return
        self._shown = (status, output)
        try:
            self._report(self._check_id, status, output)
        except Exception:
            # A failing catalog callback must not kill the check's task; keep checking.
            _log.exception("reporting check %s failed", self._check_id)
