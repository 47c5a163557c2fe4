"""Health of one instance: how to probe it, and what a run of probe results means.

`HealthTracker` is pure: fed each probe result, it says which state the instance is in
and how long to wait before the next probe, so its rules are tested without processes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

from leapfrog.runtime.local.launch import Launch
from leapfrog.shared.durations import format_duration
from leapfrog.shared.probes import SchemeMemory, exec_probe, http_probe, tcp_probe
from leapfrog.spec import CheckSpec

__all__ = ["HealthTracker", "Observation", "probe"]

_START_GROWTH = 1.1
_START_CEILING = 1.0


async def probe(launch: Launch, memory: SchemeMemory | None = None) -> tuple[bool, str]:
    """`memory`: the instance's, for an HTTP check that speaks TLS (identity on) to a
    program that may answer in plain HTTP: which one answered last is asked first."""
    check = launch.check
    assert check is not None
    if launch.component is not None:
        run = launch.component
        try:
            # asyncio.timeout, not wait_for: in Python 3.11 wait_for swallows a
            # cancellation that comes in the turn the probe ends, and the health loop
            # must end when its process exits.
            async with asyncio.timeout(check.timeout + 5):
                health = await run.component.health(run.options, run.where)
        except TimeoutError:
            return False, f"no answer in {format_duration(check.timeout + 5)}"
        return health.ok, health.detail
    if check.kind == "http":
        assert check.http is not None and launch.port is not None
        return await http_probe(
            launch.address, launch.port, check.http, check.timeout, tls=launch.tls, memory=memory
        )
    if check.kind == "tcp":
        assert launch.port is not None
        return await tcp_probe(launch.address, launch.port, check.timeout)
    assert launch.check_argv is not None
    return await exec_probe(launch.check_argv, launch.env, launch.cwd, check.timeout)


@dataclass(frozen=True)
class Observation:
    state: Literal["healthy", "unhealthy"] | None
    """The state to move to, or None to stay as it is."""
    failure: str | None
    """Set once, when the instance missed its start timeout."""
    next_probe: float


@dataclass
class HealthTracker:
    """Until the first success, probes come fast (start_interval, growing 10% a probe);
    after it, every `interval`, and `retries` failures in a row mean unhealthy."""

    check: CheckSpec
    healthy_once: bool = False
    late: bool = False
    failures: int = 0
    delay: float = field(init=False)

    def __post_init__(self) -> None:
        self.delay = self.check.start_interval

    def observe(self, ok: bool, detail: str, since_start: float) -> Observation:
        check = self.check
        if self.healthy_once:
            self.failures = 0 if ok else self.failures + 1
            if ok:
                return Observation("healthy", None, check.interval)
            bad = self.failures >= check.retries
            return Observation("unhealthy" if bad else None, None, check.interval)
        if ok:
            self.healthy_once = True
            return Observation("healthy", None, check.interval)
        if since_start > check.start_timeout:
            first = not self.late
            self.late = True
            limit = format_duration(check.start_timeout)
            failure = f"not healthy within {limit}: {detail}" if first else None
            return Observation("unhealthy" if first else None, failure, check.interval)
        self.delay = min(self.delay * _START_GROWTH, _START_CEILING, check.interval)
        return Observation(None, None, self.delay)
