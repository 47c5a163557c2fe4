"""The HPA's arithmetic as the local autoscaler applies it: proportional counts with the
10% tolerance, the largest of several targets, min and max, the stabilization windows,
and the step limits per period."""

from __future__ import annotations

from typing import Any

from leapfrog.runtime.local.autoscaling import Autoscaling, Reading
from leapfrog.spec import AutoscaleSpec


def _scaling(**fields: Any) -> Autoscaling:
    return Autoscaling(AutoscaleSpec.model_validate({"min": 1, "max": 20, **fields}))


def _rps(*values: float, target: float = 100.0) -> list[Reading]:
    return [Reading("requests", values, target, "/s")]


def test_the_count_follows_the_load_proportionally() -> None:
    scaling = _scaling(requests_per_second=100.0)
    decision = scaling.decide(0.0, 2, _rps(250.0, 250.0))
    assert decision.desired == 5 and decision.changes
    assert "requests 250/s per instance (target 100/s) over 2 measured: 5" in decision.reason


def test_within_the_tolerance_nothing_changes() -> None:
    scaling = _scaling(requests_per_second=100.0)
    assert scaling.decide(0.0, 3, _rps(108.0, 95.0, 110.0)).desired == 3
    assert "tolerance" in scaling.decide(1.0, 3, _rps(108.0, 95.0, 110.0)).reason


def test_no_measurement_keeps_the_count() -> None:
    decision = _scaling(requests_per_second=100.0).decide(0.0, 3, _rps())
    assert decision.desired == 3 and not decision.changes


def test_the_largest_target_wins() -> None:
    scaling = _scaling(cpu_percent=50, in_flight=4.0)
    readings = [Reading("cpu", [60.0, 60.0], 50, "%"), Reading("in flight", [12.0, 12.0], 4.0)]
    assert scaling.decide(0.0, 2, readings).desired == 6


def test_min_and_max_bound_the_count() -> None:
    scaling = _scaling(requests_per_second=100.0, min=2, max=4)
    high = scaling.decide(0.0, 2, _rps(1000.0, 1000.0))
    assert high.desired == 4 and "max 4" in high.reason
    low = _scaling(requests_per_second=100.0, min=2, max=4, scale_down={"stabilization": 0})
    assert low.decide(0.0, 4, _rps(1.0, 1.0, 1.0, 1.0)).desired == 2


def test_scale_down_waits_for_its_stabilization_window() -> None:
    scaling = _scaling(requests_per_second=100.0, scale_down={"stabilization": "60s"})
    assert scaling.decide(0.0, 4, _rps(100.0, 100.0, 100.0, 100.0)).desired == 4
    # The load falls: the highest recommendation of the last 60 s (4) holds.
    held = scaling.decide(15.0, 4, _rps(10.0, 10.0, 10.0, 10.0))
    assert held.desired == 4 and "60s stabilization window" in held.reason
    assert scaling.decide(45.0, 4, _rps(10.0, 10.0, 10.0, 10.0)).desired == 4
    # The 4 of t=0 has left the window; 1 is what every sync since recommended.
    assert scaling.decide(61.0, 4, _rps(10.0, 10.0, 10.0, 10.0)).desired == 1


def test_a_short_lull_inside_the_window_removes_nothing() -> None:
    scaling = _scaling(requests_per_second=100.0, scale_down={"stabilization": "60s"})
    for t in (0.0, 15.0, 30.0):
        scaling.decide(t, 4, _rps(100.0, 100.0, 100.0, 100.0))
    assert scaling.decide(45.0, 4, _rps(0.0, 0.0, 0.0, 0.0)).desired == 4
    assert scaling.decide(60.0, 4, _rps(100.0, 100.0, 100.0, 100.0)).desired == 4


def test_scale_up_is_limited_per_period_from_the_periods_start() -> None:
    scaling = _scaling(requests_per_second=100.0, scale_up={"pods": 2, "percent": None})
    first = scaling.decide(0.0, 2, _rps(500.0, 500.0))
    assert first.desired == 4 and "step limit" in first.reason
    scaling.scaled(0.0, 2, 4)
    # Within the same 15 s period the 2 added already used the allowance.
    assert scaling.decide(10.0, 4, _rps(250.0, 250.0, 250.0, 250.0)).desired == 4
    assert scaling.decide(16.0, 4, _rps(250.0, 250.0, 250.0, 250.0)).desired == 6


def test_the_more_permissive_policy_applies() -> None:
    # 4 pods or 100%: from 10 instances, 100% (20) allows more than 4 (14).
    scaling = _scaling(requests_per_second=100.0, max=50)
    assert scaling.decide(0.0, 10, _rps(*[500.0] * 10)).desired == 20


def test_scale_down_is_limited_per_period() -> None:
    scaling = _scaling(
        requests_per_second=100.0, scale_down={"stabilization": 0, "pods": 1, "percent": None}
    )
    assert scaling.decide(0.0, 5, _rps(*[10.0] * 5)).desired == 4
    scaling.scaled(0.0, 5, 4)
    assert scaling.decide(5.0, 4, _rps(*[10.0] * 4)).desired == 4
    assert scaling.decide(15.5, 4, _rps(*[10.0] * 4)).desired == 3


def test_cpu_is_the_target_when_none_is_given() -> None:
    spec = AutoscaleSpec.model_validate({"max": 3})
    assert spec.cpu_percent == 80 and spec.requests_per_second is None
    assert spec.scale_down.stabilization == 300.0 and spec.scale_up.pods == 4
