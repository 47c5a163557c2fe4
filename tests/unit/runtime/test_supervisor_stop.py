"""Stopping a supervisor ends within its budget (the sum of the grace periods and a
margin) whatever its instances do, with every process killed."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leapfrog.plan import build_plan
from leapfrog.runtime.local import supervisor as supervisor_module
from leapfrog.runtime.local.instance import Instance, InstanceState
from leapfrog.runtime.local.launch import build_launches
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.runtime.local.supervisor import Supervisor
from leapfrog.shared.procs import process_start_time
from leapfrog.spec import parse_stack


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _supervisor(services: str, base: Path) -> Supervisor:
    stack = parse_stack("catalog: {enabled: false}\n" + services, "leapfrog.yaml", base)
    paths = StatePaths(stack.state_dir)
    paths.create()
    plan = build_plan(stack)
    return Supervisor(plan, build_launches(stack, plan, paths), paths, "leapfrog.yaml")


def test_shutdown_kills_everything_once_its_budget_is_spent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor_module, "_STOP_MARGIN", 1.0, raising=False)
    monkeypatch.setenv("LEAPFROG_CGROUPS", "off")  # the process group is enough here
    supervisor = _supervisor(
        "services:\n  sleeper:\n    command: sleep 300\n    stop_grace_period: 1s\n", tmp_path
    )
    paths = supervisor.paths

    async def stuck(self: Instance) -> None:  # a stop that never ends, however it came to be
        await asyncio.Event().wait()

    async def main() -> int:
        supervisor.start()
        (item,) = supervisor.units["sleeper"]
        async with asyncio.timeout(20):
            while item.state != InstanceState.HEALTHY:
                await asyncio.sleep(0.02)
        assert item.pid is not None
        monkeypatch.setattr(Instance, "stop", stuck)
        async with asyncio.timeout(15):  # the budget: 1s of grace and 1s of margin
            await supervisor.shutdown()
        return item.pid

    pid = asyncio.run(main())
    for _ in range(200):
        if process_start_time(pid) is None:
            break
        time.sleep(0.05)
    assert process_start_time(pid) is None, "the stuck instance's process outlived shutdown"
    assert "stopping took longer than 2s; killing every process" in (
        paths.supervisor_log.read_text()
    )


def test_every_cgroup_is_made_before_the_first_spawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made between spawns, a cgroup's mkdir waited on the kernel's lock that starting
    children take to join theirs: all are made at once, before any task runs, also for
    a unit that waits for its dependency."""
    parent = tmp_path / "cgroups"
    parent.mkdir()
    monkeypatch.setattr(supervisor_module, "stack_cgroups", lambda root, record: parent)
    supervisor = _supervisor(
        "services:\n"
        "  db:\n    command: sleep 300\n    replicas: 2\n    stop_grace_period: 1s\n"
        "  web:\n    command: sleep 300\n    depends_on: [db]\n    stop_grace_period: 1s\n",
        tmp_path,
    )

    async def main() -> set[str]:
        supervisor.start()
        made = {p.name for p in parent.iterdir()}  # no task has run yet
        async with asyncio.timeout(20):
            await supervisor.shutdown()
        return made

    assert asyncio.run(main()) == {"db-1", "db-2", "web-1"}
