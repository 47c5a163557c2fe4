from __future__ import annotations

from typing import Any

from leapfrog.runtime.local import readiness, timed_out


def snap(*states: str, **extra: Any) -> dict[str, Any]:
    return {
        "instances": [{"name": f"s-{i}", "state": s, "detail": "d"} for i, s in enumerate(states)],
        **extra,
    }


def test_ready_when_all_healthy() -> None:
    verdict = readiness(snap("healthy", "healthy"))
    assert (verdict.verdict, verdict.healthy, verdict.total) == ("ready", 2, 2)


def test_waiting_while_any_starts() -> None:
    assert readiness(snap("healthy", "starting")).verdict == "waiting"


def test_completed_one_shot_counts_as_up() -> None:
    data = snap("healthy", "stopped")
    data["instances"][1]["completed"] = True
    assert readiness(data).verdict == "ready"


def test_failure_wins() -> None:
    data = snap("healthy", "crashloop")
    data["instances"][1]["failure"] = "crash loop"
    verdict = readiness(data)
    assert verdict.verdict == "failed" and verdict.failures[0]["name"] == "s-1"


def test_stopping_stack_is_stopped() -> None:
    assert readiness(snap("healthy", stopping=True)).verdict == "stopped"


def test_timeout_blames_everything_not_up() -> None:
    verdict = timed_out(snap("healthy", "starting", "unhealthy"), "5s")
    assert verdict.verdict == "timeout"
    assert [f["name"] for f in verdict.failures] == ["s-1", "s-2"]
    assert verdict.failures[0]["failure"] == "not healthy within 5s: d"
