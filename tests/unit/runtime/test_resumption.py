"""What `up` adopts of a rollout its supervisor was killed in: instances running the
rollout's source or target revision (surge ones too), by their config hash; nothing when
no rollout was in progress, nor an instance whose launch neither revision builds."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from leapfrog.runtime.local import revisions
from leapfrog.runtime.local.launch import revision_launches
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.runtime.local.recovery import Leftover
from leapfrog.runtime.local.resumption import carry_over
from leapfrog.shared.procs import process_start_time
from leapfrog.spec import Stack, load_stack


def stack_text(version: str, replicas: int = 2) -> str:
    return (
        "catalog: {enabled: false}\n"
        "services:\n"
        f"  web:\n    command: sleep 300\n    replicas: {replicas}\n    version: {version}\n"
    )


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _section(stack: Stack) -> dict[str, object]:
    return stack.spec.services["web"].model_dump(mode="json")


def _interrupted(
    file: Path, progress: revisions.Progress, extra: str = "", replicas: int = 2
) -> tuple[Stack, Stack, StatePaths, revisions.RolloutRecord]:
    """The stack at 1.0.0 then 2.0.0 (`extra`: more lines of the service), and the record
    of a rollout from revision 1 to 2 left as `progress` says."""
    file.write_text(stack_text("1.0.0", replicas) + extra)
    old = load_stack(file)
    file.write_text(stack_text("2.0.0", replicas) + extra)
    new = load_stack(file)
    paths = StatePaths(new.state_dir)
    paths.create()
    record = revisions.RolloutRecord("web")
    record.add(_section(old), "up")
    record.current = 1
    record.add(_section(new), "up")
    record.current = 2
    record.rollout = progress
    revisions.save(paths.root, record)
    return old, new, paths, record


def _left(name: str, config_hash: str) -> Leftover:
    pid = os.getpid()
    return Leftover(name, pid, process_start_time(pid), config_hash, 1.0, unit="web")


def test_instances_of_either_revision_are_carried_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAPFROG_CGROUPS", "off")
    progress = revisions.Progress(target=2, source=1, total=2)
    old, new, paths, record = _interrupted(tmp_path / "leapfrog.yaml", progress)

    before = {x.name: x for x in revision_launches(new, paths, "web", _section(old), 3)}
    after = {x.name: x for x in revision_launches(new, paths, "web", _section(new), 3)}
    assert before["web-1"].config_hash != after["web-1"].config_hash
    left = [
        _left("web-1", before["web-1"].config_hash),  # not replaced yet
        _left("web-2", after["web-2"].config_hash),  # replaced (adopted as is by `up`)
        _left("web-3", after["web-3"].config_hash),  # the surge instance
        _left("web-4", "0123456789abcdef"),  # neither revision's: stopped
    ]
    found = carry_over(new, paths, left)
    assert found.revisions == {"web-1": 1, "web-2": 2, "web-3": 2}
    assert found.launches["web-1"].env["LEAPFROG_VERSION"] == "1.0.0"
    assert found.launches["web-3"].env["LEAPFROG_VERSION"] == "2.0.0"

    # A dead leader is not adopted, whatever it ran.
    dead = Leftover("web-1", None, None, before["web-1"].config_hash, 1.0, unit="web")
    assert carry_over(new, paths, [dead]).revisions == {}

    # No rollout in progress: nothing is carried over (the old instances stop, as before).
    record.rollout.done()
    revisions.save(paths.root, record)
    assert carry_over(new, paths, left).revisions == {}


def test_the_supervisor_resumes_the_rollout_a_step_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A supervisor given an instance of the old revision (as `up` adopts it) resumes
    the rollout: a surge instance of the new revision, then the old one replaced, the
    surge gone; a canary promoted before the kill is not held again."""
    import asyncio

    from leapfrog.plan import build_plan
    from leapfrog.runtime.local.launch import build_launches
    from leapfrog.runtime.local.supervisor import Supervisor

    monkeypatch.setenv("LEAPFROG_CGROUPS", "off")
    left = revisions.Progress(target=2, source=1, total=1, canary=1)
    left.pause("canary")
    left.resume("by `leapfrog rollout promote`")  # promoted before the kill
    canary = "    rollout: {canary: 1}\n    stop_grace_period: 2s\n    drain: 0s\n"
    old, new, paths, _ = _interrupted(tmp_path / "leapfrog.yaml", left, canary, replicas=1)

    plan = build_plan(new)
    launches = build_launches(new, plan, paths)
    launches["web"] = revision_launches(new, paths, "web", _section(old), 1)
    sup = Supervisor(plan, launches, paths, str(new.path), carried={"web-1": 1})

    async def main() -> None:
        sup.start()
        async with asyncio.timeout(30):
            await asyncio.sleep(0)
            await sup.rollouts.tasks["web"]
        await sup.shutdown()

    asyncio.run(main())
    done = revisions.load(paths.root, "web").rollout
    assert done is not None
    assert (done.phase, done.resumed, done.promoted) == (
        "complete",
        1,
        "by `leapfrog rollout promote`",
    ), done
    assert [i.name for i in sup.units["web"]] == ["web-1"]  # the surge web-2 left
    assert sup.units["web"][0].launch.env["LEAPFROG_VERSION"] == "2.0.0"
    log = paths.supervisor_log.read_text()
    assert "resuming the rollout the last supervisor was killed in (web-1 at revision 1)" in log
    assert "web-2 starting" in log
