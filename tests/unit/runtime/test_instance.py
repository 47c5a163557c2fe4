"""An instance never misses the exit of its process, and stopping it always ends: a probe
that ignores its cancellation, a pidfd that never reports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from leapfrog.plan import build_plan
from leapfrog.runtime.local import instance as instance_module
from leapfrog.runtime.local.instance import Instance, InstanceState
from leapfrog.runtime.local.launch import Launch, build_launches
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.shared.probes import SchemeMemory
from leapfrog.shared.procs import process_start_time
from leapfrog.spec import parse_stack


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A directory the app user can enter: as root, launches run as that user."""
    path = Path(tempfile.mkdtemp(dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def sleeper(tmp_path: Path, interval: str = "100ms") -> Launch:
    text = (
        "services:\n  sleeper:\n    command: sleep 300\n    check: {exec: 'true', "
        f"interval: {interval}, start_interval: 10ms}}\n"
        "    restart: {policy: always, backoff: 10ms}\n"
        "    stop_grace_period: 1s\n"
    )
    stack = parse_stack(text, "leapfrog.yaml", tmp_path)
    paths = StatePaths(stack.state_dir)
    paths.create()
    (launch,) = build_launches(stack, build_plan(stack), paths)["sleeper"]
    return launch


async def until(what: str, condition: object, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


def gone(pid: int) -> bool:
    return process_start_time(pid) is None


def test_a_probe_that_ignores_cancellation_does_not_hide_the_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncio.wait_for in Python 3.11 swallows a cancellation that comes in the turn its
    inner probe ends; the health loop then ran on, probing a dead process, and the
    instance never restarted nor stopped (seen with ZooKeeper under kill -9)."""

    async def stubborn_probe(launch: Launch, memory: SchemeMemory) -> tuple[bool, str]:
        # Probing takes most of the time (interval: 10ms), and every cancellation that
        # comes meanwhile is swallowed: what 3.11's wait_for amounts to, every time.
        for _ in range(20):
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.05)
        return True, "ok"

    monkeypatch.setattr(instance_module, "probe", stubborn_probe)

    async def main() -> None:
        item = Instance(sleeper(tmp_path, interval="10ms"), lambda _i, _p: None)
        item.start()
        await until("healthy", lambda: item.state == InstanceState.HEALTHY)
        first = item.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await until("restarted", lambda: item.restarts == 1 and item.pid not in (None, first))
        second = item.pid
        await until("healthy again", lambda: item.state == InstanceState.HEALTHY)
        async with asyncio.timeout(10):  # the grace period is 1s
            await item.stop()
        assert item.state == InstanceState.STOPPED
        assert second is not None and gone(second)

    asyncio.run(main())


def test_an_exit_the_pidfd_never_reports_is_seen_in_proc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the reason a pidfd stays silent, /proc on the next probe tells."""
    silent: list[int] = []

    def never_readable(pid: int, flags: int = 0) -> int:
        read_end, write_end = os.pipe()
        silent.append(write_end)
        return read_end

    monkeypatch.setattr(instance_module.os, "pidfd_open", never_readable)

    async def main() -> None:
        item = Instance(sleeper(tmp_path), lambda _i, _p: None)
        item.start()
        await until("healthy", lambda: item.state == InstanceState.HEALTHY)
        first = item.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await until("restarted", lambda: item.restarts == 1 and item.pid not in (None, first))
        async with asyncio.timeout(10):
            await item.stop()

    try:
        asyncio.run(main())
    finally:
        for fd in silent:
            os.close(fd)
