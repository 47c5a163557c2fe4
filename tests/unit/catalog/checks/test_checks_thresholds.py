"""Consecutive-result thresholds, as the gate alone and through the running checker."""

from __future__ import annotations

import pytest

from leapfrog.catalog.checks import CheckDefinition, Status, make_checker
from leapfrog.catalog.checks._thresholds import StatusGate

from .conftest import Servers
from .support import Reports, run

pytestmark = pytest.mark.timeout(60)


def gate(reports: Reports, **thresholds: int) -> StatusGate:
    return StatusGate("c", reports, "critical", **thresholds)


def feed(target: StatusGate, results: str) -> None:
    """p = passing run, w = warning run, c = critical run."""
    names: dict[str, Status] = {"p": "passing", "w": "warning", "c": "critical"}
    for letter in results:
        target.result(names[letter], letter)


def test_without_thresholds_every_change_is_reported() -> None:
    reports = Reports()
    feed(gate(reports), "ppcwwc")
    assert reports.of("c") == [
        ("passing", "p"),
        ("critical", "c"),
        ("warning", "w"),
        ("critical", "c"),
    ]


def test_first_result_is_reported_at_once_like_consul() -> None:
    reports = Reports()
    feed(gate(reports, success_before_passing=3), "p")
    assert reports.of("c") == [("passing", "p")]


def test_success_before_passing_needs_consecutive_successes() -> None:
    reports = Reports()
    target = gate(reports, success_before_passing=3)
    feed(target, "pc")  # first result at once, then one failure
    feed(target, "pp")  # not yet: two in a row
    feed(target, "c")  # resets the count
    feed(target, "pp")
    assert reports.of("c") == [("passing", "p"), ("critical", "c")]
    feed(target, "p")
    assert reports.of("c")[-1] == ("passing", "p")


def test_failures_before_critical_without_warning_threshold() -> None:
    reports = Reports()
    target = gate(reports, failures_before_critical=3)
    feed(target, "p")
    feed(target, "ccpcc")  # a success in between resets the failure count
    assert reports.of("c") == [("passing", "p")]
    feed(target, "c")
    assert reports.of("c") == [("passing", "p"), ("critical", "c")]


def test_failures_before_warning_shows_warning_first() -> None:
    reports = Reports()
    target = gate(reports, failures_before_warning=1, failures_before_critical=3)
    feed(target, "pcc")
    assert reports.of("c") == [("passing", "p"), ("warning", "c")]
    feed(target, "c")
    assert reports.of("c")[-1] == ("critical", "c")


def test_warning_results_count_as_successes() -> None:
    reports = Reports()
    target = gate(reports, success_before_passing=2)
    feed(target, "pcww")
    assert reports.of("c") == [("passing", "p"), ("critical", "c"), ("warning", "w")]


def test_a_failing_report_callback_does_not_stop_the_gate() -> None:
    calls: list[Status] = []

    def broken(check_id: str, status: Status, output: str) -> None:
        calls.append(status)
        raise RuntimeError("catalog is busy")

    target = StatusGate("c", broken, "critical")
    target.result("passing", "")
    target.result("critical", "")
    assert calls == ["passing", "critical"]


def test_thresholds_through_the_running_checker(servers: Servers) -> None:
    url = servers.url("/state/flappy")
    out_ok = f"HTTP GET {url}: 200 OK Output: flappy"
    out_bad = f"HTTP GET {url}: 500 Internal Server Error Output: flappy"

    async def scenario() -> None:
        reports = Reports()
        checker = make_checker(reports, min_interval=0.02)
        definition = CheckDefinition(
            "flappy",
            "http",
            http=url,
            interval=0.02,
            success_before_passing=2,
            failures_before_warning=1,
            failures_before_critical=3,
        )
        servers.states["flappy"] = 200
        checker.add(definition, "critical")
        await reports.wait("flappy")
        servers.states["flappy"] = 500
        await reports.wait("flappy", count=3)
        servers.states["flappy"] = 200
        found = await reports.wait("flappy", count=4)
        await checker.close()
        assert found == [
            ("passing", out_ok),
            ("warning", out_bad),
            ("critical", out_bad),
            ("passing", out_ok),
        ]

    run(scenario)
