"""The local autoscaler's measurements: rates between two syncs from the process group's
CPU and the SDK's request counter, in-flight as read, a restarted instance measured
afresh, and a CPU quantity read as Kubernetes reads it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from leapfrog.runtime.local.autoscaler import Autoscaler, cpu_cores
from leapfrog.runtime.local.procstats import GroupUsage
from leapfrog.spec import ServiceSpec


def _instance(name: str, pid: int) -> Any:
    return SimpleNamespace(name=name, pid=pid, state="healthy")


def _autoscaler(instances: list[Any], **scale: Any) -> Autoscaler:
    service = ServiceSpec.model_validate(
        {
            "command": "app",
            "port": 8000,
            "resources": {"cpu": "250m"},
            "autoscale": {"max": 5, **scale},
        }
    )
    supervisor = SimpleNamespace(units={"web": instances}, instances={})
    return Autoscaler(supervisor, {"web": service})  # type: ignore[arg-type]


def test_rates_come_from_two_readings() -> None:
    one, two = _instance("web-1", 101), _instance("web-2", 102)
    scaler = _autoscaler([one, two], cpu_percent=50, requests_per_second=10.0, in_flight=2.0)
    spec = scaler.scalings["web"].spec

    def read(now: float, cpu: tuple[float, float], requests: tuple[float, float]) -> Any:
        usage = {101: GroupUsage(cpu[0]), 102: GroupUsage(cpu[1])}
        pages: list[dict[str, float] | None] = [
            {"requests": requests[0], "in_flight": 3.0},
            {"requests": requests[1], "in_flight": 1.0},
        ]
        return scaler._readings(
            "web", spec=spec, instances=[one, two], usage=usage, pages=pages, now=now
        )

    first = read(100.0, (1.0, 2.0), (50.0, 0.0))
    by_name = {r.name: r for r in first}
    assert by_name["cpu"].values == [] and by_name["requests"].values == []
    assert by_name["in flight"].values == [3.0, 1.0]  # a gauge needs no second reading
    second = read(102.0, (1.25, 2.5), (90.0, 10.0))
    by_name = {r.name: r for r in second}
    # 0.25 and 0.5 CPU-seconds in 2 s against a 250m request: 50% and 100%.
    assert by_name["cpu"].values == pytest.approx([50.0, 100.0])
    assert by_name["requests"].values == pytest.approx([20.0, 5.0])


def test_a_restarted_instance_is_measured_afresh() -> None:
    one = _instance("web-1", 101)
    scaler = _autoscaler([one], requests_per_second=10.0)
    spec = scaler.scalings["web"].spec
    usage = {101: GroupUsage(1.0)}
    scaler._readings(
        "web",
        spec=spec,
        instances=[one],
        usage=usage,
        pages=[{"requests": 500.0, "in_flight": 0}],
        now=1.0,
    )
    one.pid = 201  # the counter starts again at 0 in the new process
    again = scaler._readings(
        "web",
        spec=spec,
        instances=[one],
        usage={201: GroupUsage(0.1)},
        pages=[{"requests": 3.0, "in_flight": 0}],
        now=2.0,
    )
    assert again[0].values == []


def test_an_instance_without_a_page_is_left_out_of_request_rates() -> None:
    one, two = _instance("web-1", 101), _instance("web-2", 102)
    scaler = _autoscaler([one, two], requests_per_second=10.0)
    spec = scaler.scalings["web"].spec
    usage = {101: GroupUsage(0.0), 102: GroupUsage(0.0)}
    for now, count in ((1.0, 0.0), (2.0, 30.0)):
        readings = scaler._readings(
            "web",
            spec=spec,
            instances=[one, two],
            usage=usage,
            pages=[{"requests": count, "in_flight": 0}, None],
            now=now,
        )
    assert readings[0].values == [30.0]


@pytest.mark.parametrize(("quantity", "cores"), [("250m", 0.25), ("1", 1.0), ("1.5", 1.5)])
def test_cpu_quantities(quantity: str, cores: float) -> None:
    assert cpu_cores(quantity) == cores
