"""The health rules, fed probe results by hand."""

from __future__ import annotations

import itertools

from leapfrog.runtime.local.health import HealthTracker
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
