"""The services' rollout histories are written just after the spawns start; a failed write
is said in the supervisor's log and leaves the running services alone."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from leapfrog.plan import build_plan
from leapfrog.runtime.local.launch import build_launches
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.runtime.local.revisions import RolloutRecord
from leapfrog.runtime.local.supervisor import Supervisor
from leapfrog.spec import parse_stack


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    base = Path(tempfile.mkdtemp(dir="/tmp"))
    base.chmod(0o755)
    stack = parse_stack(
        "catalog: {enabled: false}\nservices:\n  web: {command: [sleep, '60']}\n",
        "leapfrog.yaml",
        base,
    )
    paths = StatePaths(stack.state_dir)
    paths.create()
    plan = build_plan(stack)
    yield Supervisor(plan, build_launches(stack, plan, paths), paths, "leapfrog.yaml")
    shutil.rmtree(base, ignore_errors=True)


def test_a_history_that_cannot_be_written_is_logged(
    supervisor: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(records: list[RolloutRecord]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(supervisor.rollouts, "save", full)
    logged: list[str] = []
    monkeypatch.setattr(supervisor, "log_line", logged.append)
    supervisor._save_histories([])
    assert logged == [
        "could not write the services' rollout history: [Errno 28] No space left on device"
    ]


def test_histories_decided_at_start_are_written(supervisor: Supervisor) -> None:
    records = supervisor.rollouts.started()
    assert [r.service for r in records] == ["web"]
    supervisor._save_histories(records)
    assert supervisor.rollouts.record("web").current == records[0].current
