"""`scale` on a real supervisor with `sleep` instances (no ports, no catalog): instances
added at their own addresses and started, the highest ones stopped, bad requests named."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from leapfrog.plan import build_plan
from leapfrog.runtime.local.instance import InstanceState
from leapfrog.runtime.local.launch import build_launches
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.runtime.local.scaling import scale
from leapfrog.runtime.local.supervisor import Supervisor
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.procs import process_start_time
from leapfrog.spec import load_stack

STACK = (
    "catalog: {enabled: false}\n"
    "services:\n"
    "  sleeper:\n    command: sleep 300\n    replicas: 1\n    stop_grace_period: 1s\n"
    "  other:\n    command: sleep 300\n    stop_grace_period: 1s\n"
)


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_scale_up_then_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAPFROG_CGROUPS", "off")
    (tmp_path / "leapfrog.yaml").write_text(STACK)
    stack = load_stack(tmp_path / "leapfrog.yaml")
    paths = StatePaths(stack.state_dir)
    paths.create()
    plan = build_plan(stack)
    sup = Supervisor(plan, build_launches(stack, plan, paths), paths, str(stack.path))

    async def healthy(names: list[str]) -> None:
        async with asyncio.timeout(20):
            while not all(sup.instances[n].state == InstanceState.HEALTHY for n in names):
                await asyncio.sleep(0.02)

    async def main() -> tuple[list[int], dict[str, str]]:
        sup.start()
        await healthy(["sleeper-1", "other-1"])
        other_pid = sup.instances["other-1"].pid
        grown = await scale(sup, {"sleeper": "+2"})
        assert grown["scaled"]["sleeper"]["start"] == ["sleeper-2", "sleeper-3"]
        await healthy(["sleeper-1", "sleeper-2", "sleeper-3"])
        addresses = {i.launch.address for i in sup.units["sleeper"]}
        assert len(addresses) == 3
        assert sup.plan.units["sleeper"].replicas == 3
        assert sup.instances["other-1"].pid == other_pid  # the others untouched
        leaving = [sup.instances[n].pid for n in ("sleeper-2", "sleeper-3")]
        shrunk = await scale(sup, {"sleeper": "1"})
        assert shrunk["scaled"]["sleeper"] == {
            "from": 3,
            "to": 1,
            "stale": [],
            "stop": ["sleeper-2", "sleeper-3"],
        }
        assert [i.name for i in sup.units["sleeper"]] == ["sleeper-1"]
        snapshot = {i["name"]: i["state"] for i in sup.snapshot()["instances"]}
        errors = {}
        for bad in ({"nope": "2"}, {"sleeper": "-5"}, {"sleeper": "many"}):
            with pytest.raises(LeapfrogError) as caught:
                await scale(sup, bad)
            errors[next(iter(bad.values()))] = caught.value.message
        await sup.shutdown()
        return [p for p in leaving if p is not None], snapshot | errors

    leaving, seen = asyncio.run(main())
    assert len(leaving) == 2
    assert all(process_start_time(pid) is None for pid in leaving)
    assert seen["sleeper-1"] == "healthy" and "sleeper-2" not in seen
    assert "no service named 'nope'" in seen["2"]
    assert "would make -4" in seen["-5"]
    assert "is not a count" in seen["many"]
