"""The asyncio checker: one task per HTTP/TCP check, one timer per TTL check."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from leapfrog.catalog.checks._probes import DEFAULT_OUTPUT_MAX_SIZE, probe_http, probe_tcp
from leapfrog.catalog.checks._thresholds import StatusGate
from leapfrog.catalog.checks.api import CheckDefinition, NotTTL, Report, Status

__all__ = ["MIN_INTERVAL", "AsyncChecker"]

MIN_INTERVAL = 1.0
"""Consul's floor for a check's Interval; shorter intervals are raised to it."""

_MAX_STAGGER = 1.0
_log = logging.getLogger(__name__)

Probe = Callable[[CheckDefinition], Awaitable[tuple[Status, str]]]
_PROBES: dict[str, Probe] = {"http": probe_http, "tcp": probe_tcp}


@dataclass
class _TTLCheck:
    ttl: float
    gate: StatusGate
    output_max_size: int
    timer: asyncio.TimerHandle | None = None
    last_output: str = ""


def _truncated(output: str, limit: int) -> str:
    """Consul's note on a TTL output longer than OutputMaxSize."""
    data = output.encode()
    if len(data) <= limit:
        return output
    kept = data[:limit].decode(errors="ignore")
    return f"{kept} ... (captured {limit} of {len(data)} bytes)"


class AsyncChecker:
    """Implements `Checker`; must be used from the event loop that runs the checks."""

    def __init__(self, report: Report, *, min_interval: float = MIN_INTERVAL) -> None:
        self._report = report
        self._min_interval = min_interval
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._ttls: dict[str, _TTLCheck] = {}
        # Cancelled runners still unwinding, so close() can wait for them too.
        self._stopping: set[asyncio.Task[None]] = set()

    def add(self, definition: CheckDefinition, status: Status) -> None:
        self.remove(definition.check_id)
        gate = StatusGate(
            definition.check_id,
            self._report,
            status,
            success_before_passing=definition.success_before_passing,
            failures_before_warning=definition.failures_before_warning,
            failures_before_critical=definition.failures_before_critical,
        )
        if definition.kind == "ttl":
            limit = definition.output_max_size
            ttl = _TTLCheck(definition.ttl or 0.0, gate, limit or DEFAULT_OUTPUT_MAX_SIZE)
            self._ttls[definition.check_id] = ttl
            self._arm(definition.check_id, ttl)
            return
        probe = _PROBES[definition.kind]
        interval = max(definition.interval, self._min_interval)
        loop = asyncio.get_running_loop()
        task = loop.create_task(
            _run(definition, probe, gate, interval), name=f"check {definition.check_id}"
        )
        self._runners[definition.check_id] = task

    def remove(self, check_id: str) -> None:
        ttl = self._ttls.pop(check_id, None)
        if ttl is not None and ttl.timer is not None:
            ttl.timer.cancel()
        task = self._runners.pop(check_id, None)
        if task is not None:
            task.cancel()
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    def ttl_update(self, check_id: str, status: Status, output: str) -> None:
        ttl = self._ttls.get(check_id)
        if ttl is None:
            raise NotTTL(check_id)
        ttl.last_output = _truncated(output, ttl.output_max_size)
        ttl.gate.show(status, ttl.last_output)
        self._arm(check_id, ttl)

    async def close(self) -> None:
        for check_id in [*self._runners, *self._ttls]:
            self.remove(check_id)
        stopping = list(self._stopping)
        await asyncio.gather(*stopping, return_exceptions=True)

    def _arm(self, check_id: str, ttl: _TTLCheck) -> None:
        if ttl.timer is not None:
            ttl.timer.cancel()
            ttl.timer = None
        if ttl.ttl <= 0:  # the catalog rejects these; never expiring is the harmless reading
            return
        loop = asyncio.get_running_loop()
        ttl.timer = loop.call_later(ttl.ttl, _expire, ttl)


def _expire(ttl: _TTLCheck) -> None:
    ttl.timer = None
    # Consul keeps the last heartbeat's output so one can tell "stopped reporting" apart.
    suffix = f" (last output before timeout follows): {ttl.last_output}" if ttl.last_output else ""
    ttl.gate.show("critical", "TTL expired" + suffix)


async def _run(
    definition: CheckDefinition, probe: Probe, gate: StatusGate, interval: float
) -> None:
    # A random stagger so checks added together do not all fire in the same instant.
    await asyncio.sleep(random.uniform(0, min(interval, _MAX_STAGGER)))
    while True:
        try:
            status, output = await probe(definition)
        except Exception as exc:
            # A probe bug must not silently end the check: show it and keep the schedule.
            _log.exception("check %s failed to run", definition.check_id)
            status, output = "critical", f"check failed to run: {exc!r}"
        gate.result(status, output)
        await asyncio.sleep(interval)
