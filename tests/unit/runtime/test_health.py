"""The health rules, fed probe results by hand."""

from __future__ import annotations

import asyncio
import itertools
from types import SimpleNamespace
from typing import cast

from leapfrog.components.base import Health
from leapfrog.runtime.local.health import HealthTracker, probe
from leapfrog.runtime.local.launch import Launch
from leapfrog.spec import CheckSpec


def check(**kw: object) -> CheckSpec:
    return CheckSpec.model_validate({"http": "/h", **kw})


def test_first_success_is_healthy_and_slows_probing() -> None:
    tracker = HealthTracker(check(interval="5s"))
    seen = tracker.observe(True, "HTTP 200", 0.1)
    assert (seen.state, seen.failure, seen.next_probe) == ("healthy", None, 5.0)


def test_start_probes_grow_but_stay_under_a_second_and_interval() -> None:
    tracker = HealthTracker(check(start_interval="20ms", interval="500ms"))
    delays = [tracker.observe(False, "refused", 0.0).next_probe for _ in range(60)]
    assert delays[0] > 0.02 and all(b >= a for a, b in itertools.pairwise(delays))
    assert max(delays) == 0.5


def test_retries_failures_in_a_row_make_unhealthy() -> None:
    tracker = HealthTracker(check(retries=3))
    tracker.observe(True, "ok", 0)
    assert tracker.observe(False, "503", 1).state is None
    assert tracker.observe(False, "503", 2).state is None
    assert tracker.observe(False, "503", 3).state == "unhealthy"
    assert tracker.observe(True, "200", 4).state == "healthy"
    assert tracker.observe(False, "503", 5).state is None  # the count started over


def test_start_timeout_reports_once() -> None:
    tracker = HealthTracker(check(start_timeout="1s", interval="2s"))
    assert tracker.observe(False, "refused", 0.5).failure is None
    late = tracker.observe(False, "refused", 1.5)
    assert late.state == "unhealthy" and late.failure == "not healthy within 1s: refused"
    assert late.next_probe == 2.0
    again = tracker.observe(False, "refused", 3.5)
    assert again.failure is None and again.state is None
    assert tracker.observe(True, "200", 4.0).state == "healthy"


def test_a_probe_cancelled_in_the_turn_its_component_answers_is_cancelled() -> None:
    """The health loop is cancelled when its process exits; asyncio.wait_for (Python 3.11)
    swallowed a cancellation that came in the very turn the component's probe answered."""
    outer: list[asyncio.Task[None]] = []
    calls = 0

    class Answers:
        async def health(self, options: object, where: object) -> Health:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0)
            if calls == 1:
                asyncio.get_running_loop().call_soon(outer[0].cancel)
            return Health(False, "connection refused")

    launch = cast(
        Launch,
        SimpleNamespace(
            check=check(),
            component=SimpleNamespace(component=Answers(), options=None, where=None),
        ),
    )

    async def probing() -> None:
        for _ in range(1000):
            await probe(launch)

    async def main() -> bool:
        task = asyncio.create_task(probing())
        outer.append(task)
        await asyncio.wait({task}, timeout=5)
        return task.cancelled()

    assert asyncio.run(main()), "the cancellation was swallowed"
