"""One instance's life: spawn, watch for exit, probe health, restart with backoff, stop.

Exit is watched through a pidfd in the event loop (no thread per child), which also
works for processes adopted from a supervisor that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import signal
import subprocess
import time
import traceback
from collections.abc import Callable
from typing import Any

from leapfrog.runtime.local.health import HealthTracker, probe
from leapfrog.runtime.local.launch import Launch
from leapfrog.runtime.local.spawn import (
    SpawnError,
    describe_exit,
    popen,
    prepare_component,
    prepare_files,
)
from leapfrog.shared.durations import format_duration
from leapfrog.shared.procs import kill_group, process_start_time

__all__ = ["Instance", "InstanceState"]

NO_CHECK_SETTLE = 0.5
"""An instance without a check counts as healthy once it has stayed up this long."""


class InstanceState(enum.StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    CRASHLOOP = "crashloop"
    STOPPED = "stopped"


class Instance:
    def __init__(self, launch: Launch, on_change: Callable[[Instance, bool], None]) -> None:
        self.launch = launch
        self._on_change = on_change
        self.state = InstanceState.STARTING
        self.detail = "pending"
        self.pid: int | None = None
        self.start_ticks: int | None = None
        self.started_at: float | None = None
        self.restarts = 0
        self.exit_code: int | None = None
        self.failure: str | None = None
        """Why the instance failed to come up, for `up -d` to report; None while all is well."""
        self.completed = False
        self.pending = False
        """Waiting to be replaced by a newer launch: not counted as up until it is."""
        self.last_check: str | None = None
        self.check_seconds: float | None = None
        """How long the last health probe took (a metric of the collector)."""
        self._crashes_in_a_row = 0
        self._healthy_once = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._exited: asyncio.Future[int | None] | None = None
        self._stopping = asyncio.Event()
        self._first_spawn = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.launch.name

    def _set(self, state: InstanceState, detail: str, pid_changed: bool = False) -> None:
        self.state, self.detail = state, detail
        self._on_change(self, pid_changed)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, adopt: tuple[int, int] | None = None) -> None:
        self._stopping = asyncio.Event()
        self.failure = None
        self.completed = False
        self._first_spawn = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._guarded(adopt), name=self.name)

    def wait_for(self, detail: str) -> None:
        self._set(InstanceState.STARTING, detail)

    async def _guarded(self, adopt: tuple[int, int] | None) -> None:
        """Whatever goes wrong inside, the instance ends up in a state that says so."""
        try:
            await self._run(adopt)
        except Exception as exc:
            traceback.print_exc()
            self.failure = f"leapfrog failed to supervise it: {type(exc).__name__}: {exc}"
            self._set(InstanceState.STOPPED, self.failure, pid_changed=True)

    async def _run(self, adopt: tuple[int, int] | None) -> None:
        backoff = self.launch.restart.backoff
        while not self._stopping.is_set():
            try:
                if adopt is not None:
                    self._adopt(*adopt)
                    adopt = None
                else:
                    await self._spawn()
            except SpawnError as exc:
                self.failure = str(exc)
                self._set(InstanceState.STOPPED, str(exc))
                return
            if self._stopping.is_set():  # stop() came while the process was being spawned
                await self._terminate()
            spawned = time.monotonic()
            health = asyncio.get_running_loop().create_task(self._health_loop())
            assert self._exited is not None
            code = await self._exited
            health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await health
            self.pid, self.exit_code = None, code
            if self._stopping.is_set():
                break
            if not self._should_restart(code):
                self.completed = code == 0
                if code != 0 and not self._healthy_once:
                    self.failure = f"{describe_exit(code)} before becoming healthy"
                self._set(InstanceState.STOPPED, describe_exit(code), pid_changed=True)
                return
            if time.monotonic() - spawned >= self.launch.restart.reset_after:
                self._crashes_in_a_row, backoff = 0, self.launch.restart.backoff
            self._crashes_in_a_row += 1
            self.restarts += 1
            detail = f"{describe_exit(code)}; restarting in {format_duration(backoff)}"
            if self._crashes_in_a_row >= self.launch.restart.crashloop_after:
                self.failure = (
                    f"crash loop: {self._crashes_in_a_row} crashes in a row, last {detail}"
                )
                self._set(InstanceState.CRASHLOOP, detail, pid_changed=True)
            else:
                self._set(InstanceState.STARTING, detail, pid_changed=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            backoff = min(backoff * 2, self.launch.restart.max_backoff)
        self._set(InstanceState.STOPPED, "stopped", pid_changed=True)

    def _should_restart(self, code: int | None) -> bool:
        policy = self.launch.restart.policy
        return policy == "always" or (policy == "on-failure" and code != 0)

    async def _spawn(self) -> None:
        """Start the process. Popen runs in a worker thread: it waits for the child's exec,
        which under load takes far longer than the fork, and spawns should overlap."""
        prepare_files(self.launch)
        loop = asyncio.get_running_loop()
        if self.launch.component is not None:
            self._set(InstanceState.STARTING, "preparing (init steps)")
            await loop.run_in_executor(None, prepare_component, self.launch)
        self._proc = await loop.run_in_executor(None, popen, self.launch)
        self._watch(self._proc.pid, self._proc.poll)
        self.started_at = time.time()
        if self._healthy_once:  # after a healthy run, the start deadline counts anew
            self._first_spawn = time.monotonic()
        self._healthy_once = False
        self._set(InstanceState.STARTING, "started", pid_changed=True)

    def _adopt(self, pid: int, ticks: int) -> None:
        self._proc = None
        if process_start_time(pid) != ticks:
            raise SpawnError("adopted process is gone")
        self._watch(pid, lambda: None)
        self._healthy_once = False
        self._set(InstanceState.STARTING, "adopted from an earlier supervisor", pid_changed=True)

    def _watch(self, pid: int, reap: Callable[[], int | None]) -> None:
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[int | None] = loop.create_future()
        self._exited = exited
        self.pid, self.start_ticks = pid, process_start_time(pid)
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            exited.set_result(reap())
            return

        def on_exit() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            code = reap()
            if code is None and self._proc is not None:
                code = self._proc.wait()
            if not exited.done():
                exited.set_result(code)

        loop.add_reader(pidfd, on_exit)

    async def _terminate(self) -> None:
        """Stop signal to the whole process group, SIGKILL after the grace period."""
        pid, exited = self.pid, self._exited
        if pid is None or exited is None or exited.done():
            return
        kill_group(pid, signal.Signals[self.launch.stop_signal])
        try:
            await asyncio.wait_for(asyncio.shield(exited), self.launch.stop_grace_period)
        except TimeoutError:
            kill_group(pid, signal.SIGKILL)
            await exited
        kill_group(pid, signal.SIGKILL)  # whatever the leader left behind in its group

    async def stop(self) -> None:
        self._stopping.set()
        await self._terminate()
        if self._task is not None:
            # wait() neither raises if the task was cancelled nor cancels it if we are
            await asyncio.wait({self._task})  # its last act records the instance as stopped
        else:
            self._set(InstanceState.STOPPED, "stopped", pid_changed=True)

    async def restart(self) -> None:
        await self.stop()
        self._crashes_in_a_row = 0
        self.start()

    async def replace(self, launch: Launch) -> None:
        """Stop this process and start one for a new launch in its place."""
        await self.stop()
        self.launch, self.pending = launch, False
        self._crashes_in_a_row = 0
        self.start()

    async def reconfigure(self, launch: Launch) -> None:
        """A running component's new options (a topic more, a database more): its setup
        runs again on the running process, which counts as starting until it is done."""
        self.launch = launch
        if self.state != InstanceState.HEALTHY:
            return  # the next first-healthy probe runs the new setup anyway
        self._set(InstanceState.STARTING, "applying new options")
        ok, detail = await self._set_up("options applied")
        self._set(InstanceState.HEALTHY if ok else InstanceState.UNHEALTHY, detail)

    # -- health ------------------------------------------------------------------------

    async def _health_loop(self) -> None:
        check = self.launch.check
        if check is None:
            await asyncio.sleep(NO_CHECK_SETTLE)
            self._healthy_once = True
            self.failure = None
            self._set(InstanceState.HEALTHY, "running (no check)")
            return
        tracker = HealthTracker(check, late=self.failure is not None)
        while True:
            probed_at = time.monotonic()
            ok, detail = await probe(self.launch)
            self.check_seconds = time.monotonic() - probed_at
            if ok and not self._healthy_once:
                ok, detail = await self._set_up(detail)
            self.last_check = detail  # seen in snapshots, without a change event per probe
            seen = tracker.observe(ok, detail, time.monotonic() - self._first_spawn)
            if ok and not self._healthy_once:
                self._healthy_once, self.failure = True, None
            if seen.failure is not None:
                self.failure = seen.failure
            if seen.state is not None and (seen.state != self.state or seen.failure):
                self._set(InstanceState(seen.state), detail)
            await asyncio.sleep(seen.next_probe)

    async def _set_up(self, detail: str) -> tuple[bool, str]:
        """A component's setup (topics, databases) runs once per start, after its first
        healthy probe and before it counts as healthy, so dependents find what they need."""
        run = self.launch.component
        if run is None:
            return True, detail
        try:
            await run.component.setup(run.options, run.where)
        except Exception as exc:  # a failed setup is retried with the next probe
            return False, f"setup failed: {exc}"
        after = await run.component.health(run.options, run.where)  # words that count the setup
        return True, after.detail if after.ok else detail

    def snapshot(self) -> dict[str, Any]:
        launch = self.launch
        run = launch.component
        return {
            "name": launch.name,
            "unit": launch.unit,
            "kind": launch.kind,
            "version": run.version if run else launch.env.get("LEAPFROG_VERSION"),
            "state": str(self.state),
            "detail": self.detail,
            "address": launch.address,
            "port": launch.port,
            "pid": self.pid,
            "start_ticks": self.start_ticks,
            "started_at": self.started_at,
            "restarts": self.restarts,
            "exit_code": self.exit_code,
            "failure": self.failure,
            "last_check": self.last_check,
            "completed": self.completed,
            "pending": self.pending,
            "config_hash": launch.config_hash,
            "stop_grace_period": launch.stop_grace_period,
            "log": str(launch.log_path),
        }
