"""A service's revisions and the state machine of one rollout (runtime.local.revisions),
the rollout settings' validation, and what `up` waits for while a rollout runs."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from leapfrog.runtime.local import revisions
from leapfrog.runtime.local.instance import InstanceState
from leapfrog.runtime.local.readiness import readiness
from leapfrog.runtime.local.revisions import HISTORY_LIMIT, Progress, RolloutRecord
from leapfrog.runtime.local.rollouts import Rollouts, _StepFailed
from leapfrog.spec import RolloutSpec


def section(version: str, **extra: Any) -> dict[str, Any]:
    return {"command": ["app"], "version": version, "replicas": 2, **extra}


def test_a_revision_is_the_section_without_its_count_and_strategy() -> None:
    record = RolloutRecord("web")
    first = record.add(section("1"), "up")
    record.current = first.number
    # Scaling and a new strategy are no new revision; a new version is.
    assert record.add(section("1", replicas=5), "up") is first
    assert record.add(section("1", rollout={"max_surge": 2}), "up") is first
    second = record.add(section("2"), "up")
    assert (first.number, second.number) == (1, 2)
    assert second.version == "2" and second.cause == "up"


def test_previous_is_the_revision_before_the_current() -> None:
    record = RolloutRecord("web")
    for version in ("1", "2", "3"):
        record.current = record.add(section(version), "up").number
    assert record.previous() is not None and record.previous().number == 2  # type: ignore[union-attr]
    record.current = 1
    assert record.previous() is None


def test_the_history_is_bounded_and_keeps_the_current_revision() -> None:
    record = RolloutRecord("web")
    record.current = record.add(section("0"), "up").number
    for n in range(1, HISTORY_LIMIT + 5):
        record.add(section(str(n)), "up")  # rolled out but reverted: current stays 1
    numbers = [r.number for r in record.revisions]
    assert len(numbers) == HISTORY_LIMIT
    assert numbers[0] == 1  # the running one is never dropped
    assert numbers[-1] == HISTORY_LIMIT + 5


def test_saved_owner_only_and_read_back(tmp_path: Path) -> None:
    record = RolloutRecord("web")
    record.current = record.add(section("1"), "up").number
    record.rollout = Progress(target=1, source=None, total=2, updated=["web-1"])
    revisions.save(tmp_path, record)
    path = tmp_path / "rollouts" / "web.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = revisions.load(tmp_path, "web")
    assert again.as_dict() == record.as_dict()
    path.write_text("{not json")
    assert revisions.load(tmp_path, "web").revisions == []  # unreadable: a new history
    assert revisions.load(tmp_path, "api").revisions == []


def test_a_rollout_completes() -> None:
    progress = Progress(target=2, source=1, total=2)
    assert progress.active
    for name in ("web-3", "web-1", "web-2"):
        progress.ready(name)
        assert not progress.should_pause()
    progress.done()
    assert progress.phase == "complete" and not progress.active
    assert progress.finished is not None


def test_a_failed_step_reverts_and_a_failed_revert_stops() -> None:
    progress = Progress(target=3, source=2, total=2)
    progress.fail("web-3 not passing within 8s", revert=True)
    assert (progress.phase, progress.active) == ("reverting", True)
    assert "2" in progress.message("web") and "web-3 not passing" in progress.message("web")
    progress.done()
    assert progress.phase == "reverted"

    again = Progress(target=3, source=2, total=2)
    again.fail("first", revert=True)
    again.fail("second", revert=True)
    assert again.phase == "failed" and "first" in again.reason and "second" in again.reason


def test_without_auto_revert_or_a_previous_revision_a_failure_stays() -> None:
    progress = Progress(target=3, source=2, total=2)
    progress.fail("boom", revert=False)
    assert progress.phase == "failed" and not progress.active
    first = Progress(target=1, source=None, total=2)
    first.fail("boom", revert=True)
    assert first.phase == "failed"


def test_canary_pauses_until_resumed() -> None:
    progress = Progress(target=2, source=1, total=3, canary=1)
    progress.ready("web-4")
    assert progress.should_pause()
    progress.pause("canary")
    assert progress.phase == "paused" and progress.active
    assert not progress.should_pause()  # already paused
    progress.resume()
    assert progress.phase == "progressing"
    progress.ready("web-1")
    assert not progress.should_pause()  # the canary count no longer holds it


def test_the_record_names_its_canary_while_it_waits_for_promote() -> None:
    record = RolloutRecord("web")
    record.add(section("1.0.0"), "up")
    record.add(section("2.0.0", rollout={"canary": 1, "promote_after": 30}), "up")
    record.current = 2
    progress = Progress(target=2, source=1, total=2, canary=1, updated=["web-3"], surge=["web-3"])
    record.rollout = progress
    assert record.canary() is None  # still progressing
    progress.pause("canary")
    held = record.canary()
    assert held is not None and progress.paused_at is not None
    assert (held["revision"], held["version"], held["instances"]) == (2, "2.0.0", ["web-3"])
    assert (held["count"], held["beside"], held["since"]) == (1, 2, progress.paused_at)
    assert held["waits_for"] == "promote" and held["promote_after"] == 30
    # Read back from its file (an older file without paused_at loads too).
    again = RolloutRecord.from_dict(json.loads(json.dumps(record.as_dict())))
    assert again.canary() == held
    progress.resume()
    assert record.canary() is None and progress.paused_at is None
    asked = Progress(target=2, source=1, total=2, canary=1, pause_requested=True)
    asked.pause("paused by `leapfrog rollout pause`")
    record.rollout = asked
    assert record.canary() is None  # held by `rollout pause`, not as a canary


def test_pause_asked_holds_after_the_step() -> None:
    progress = Progress(target=2, source=1, total=3)
    assert not progress.should_pause()
    progress.pause_requested = True
    assert progress.should_pause()
    progress.pause("asked")
    progress.resume()
    assert not progress.pause_requested and not progress.should_pause()


def test_progress_messages_count_replaced_and_surge_apart() -> None:
    progress = Progress(target=2, source=1, total=2, surge=["web-3"])
    progress.ready("web-3")
    progress.ready("web-1")
    assert progress.message("web") == "web: revision 2: 1 of 2 instance(s) updated (+1 surge)"


@pytest.mark.parametrize(
    ("names", "surge", "unavailable", "expected"),
    [
        (["a", "b", "c"], 1, 0, [["a"], ["b"], ["c"]]),
        (["a", "b", "c"], 0, 2, [["a", "b"], ["c"]]),
        (["a", "b", "c", "d"], 1, 1, [["a", "b"], ["c", "d"]]),
        ([], 1, 0, []),
    ],
)
def test_batches(names: list[str], surge: int, unavailable: int, expected: list[list[str]]) -> None:
    assert revisions.batches(names, surge, unavailable) == expected


def test_a_strategy_that_could_never_replace_is_refused() -> None:
    with pytest.raises(ValidationError, match="both 0"):
        RolloutSpec.model_validate({"max_surge": 0, "max_unavailable": 0})
    spec = RolloutSpec.model_validate({"progress_deadline": "30s", "min_ready": "2s"})
    assert (spec.progress_deadline, spec.min_ready, spec.max_surge) == (30.0, 2.0, 1)


def _snapshot(phase: str | None, failure: str | None = None) -> dict[str, Any]:
    instance = {"name": "web-3", "state": "unhealthy", "failure": failure, "pending": False}
    healthy = {"name": "web-1", "state": "healthy", "failure": None, "pending": False}
    rollouts = {"web": {"phase": phase, "message": f"web: {phase}"}} if phase else {}
    return {"instances": [healthy, instance], "rollouts": rollouts}


def test_up_waits_for_a_rollout_and_reports_a_reverted_one() -> None:
    # While it runs, a failing new instance is the rollout's business (it reverts it).
    assert readiness(_snapshot("progressing", failure="exited")).verdict == "waiting"
    assert readiness(_snapshot("reverting", failure="exited")).verdict == "waiting"
    ended = readiness(_snapshot("reverted"))
    assert ended.verdict == "failed"
    assert ended.failures == [{"name": "web (rollout)", "failure": "web: reverted"}]
    assert readiness(_snapshot("paused")).verdict == "waiting"  # web-3 is not healthy


def test_history_reads_the_state_dir_while_the_stack_is_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from leapfrog.cli import main

    stack = tmp_path / "leapfrog.yaml"
    stack.write_text("services:\n  web:\n    command: app\n", encoding="utf-8")
    record = RolloutRecord("web")
    record.add(section("1"), "up")
    record.current = record.add(section("2"), "up").number
    record.revisions[1].outcome = "complete"
    revisions.save(tmp_path / ".leapfrog", record)
    assert main(["rollout", "history", "web", "-f", str(stack), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["current"] == 2
    assert [(r["number"], r["version"], r["outcome"]) for r in body["revisions"]] == [
        (1, "1", ""),
        (2, "2", "complete"),
    ]
    assert main(["rollout", "history", "api", "-f", str(stack)]) == 1
    assert "no revisions recorded for 'api'" in capsys.readouterr().err
    # Undo, pause and resume need the running supervisor, and say so.
    assert main(["rollout", "undo", "web", "-f", str(stack)]) == 1
    assert "the stack is not up" in capsys.readouterr().err


# -- canary auto-promote (promote_after) ---------------------------------------------------


def test_the_canary_period_restarts_when_a_canary_stops_passing() -> None:
    period = revisions.CanaryPeriod(10.0)
    assert not period.observe(0.0, True)
    assert not period.observe(9.0, True)
    assert not period.observe(9.5, False)  # a break: the period starts again
    assert period.since is None
    assert not period.observe(10.0, True)
    assert not period.observe(19.9, True)
    assert period.observe(20.0, True)


def test_promote_after_needs_a_canary() -> None:
    with pytest.raises(ValidationError, match="promote_after promotes a canary"):
        RolloutSpec.model_validate({"promote_after": "30s"})
    spec = RolloutSpec.model_validate({"canary": 1, "promote_after": "1m30s"})
    assert spec.promote_after == 90.0
    assert RolloutSpec.model_validate({}).promote_after is None


def test_a_promoted_canary_says_how() -> None:
    progress = Progress(target=2, source=1, total=2, canary=1)
    progress.ready("web-3")
    progress.pause("canary")
    progress.resume("by itself after 30s passing (promote_after)")
    assert progress.phase == "progressing" and progress.promoted.startswith("by itself")
    asked = Progress(target=2, source=1, total=2)
    asked.pause_requested = True
    asked.pause("asked")
    asked.resume()
    assert asked.promoted == ""  # a pause by hand, not a canary


class _Instance:
    def __init__(self, name: str, state: InstanceState, failure: str | None = None) -> None:
        self.name, self.state, self.failure, self.detail = name, state, failure, ""


class _Supervisor:
    def __init__(self, *instances: _Instance) -> None:
        self.instances = {i.name: i for i in instances}
        self.lines: list[str] = []

    def log_line(self, line: str) -> None:
        self.lines.append(line)


def _period(sup: _Supervisor, length: float, resume_after: float | None = None) -> Progress:
    """Run the engine's canary period over `sup`'s instances (web-3 the canary)."""
    progress = Progress(target=2, source=1, total=2, canary=1)
    progress.ready("web-3")
    progress.pause("canary")
    engine = Rollouts(sup)  # type: ignore[arg-type]

    async def run() -> None:
        resumed = asyncio.Event()
        if resume_after is not None:
            asyncio.get_running_loop().call_later(resume_after, resumed.set)
        await engine._canary_period(
            "web", progress, revisions.CanaryPeriod(length), registered=False, resumed=resumed
        )

    asyncio.run(asyncio.wait_for(run(), 10))
    return progress


def test_healthy_canaries_are_promoted_after_the_period() -> None:
    sup = _Supervisor(_Instance("web-3", InstanceState.HEALTHY))
    progress = _period(sup, 0.5)
    assert progress.phase == "progressing"
    assert progress.promoted == "by itself after 500ms passing (promote_after)"
    assert any("canary promoted by itself" in line for line in sup.lines)


def test_a_canary_not_passing_is_not_promoted_and_a_failed_one_fails_the_rollout() -> None:
    starting = _Instance("web-3", InstanceState.STARTING)
    progress = _period(_Supervisor(starting), 0.2, resume_after=1.0)  # resumed by hand
    assert progress.promoted == "" and progress.phase == "paused"  # resume() is the op's
    failed = _Instance("web-3", InstanceState.UNHEALTHY, failure="exited with 1")
    with pytest.raises(_StepFailed, match="canary web-3 failed: exited with 1"):
        _period(_Supervisor(failed), 0.2)
