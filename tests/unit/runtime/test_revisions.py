"""A service's revisions and the state machine of one rollout (runtime.local.revisions),
the rollout settings' validation, and what `up` waits for while a rollout runs."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from leapfrog.runtime.local import revisions
from leapfrog.runtime.local.readiness import readiness
from leapfrog.runtime.local.revisions import HISTORY_LIMIT, Progress, RolloutRecord
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
