"""One instance's life: spawn, watch for exit, probe health, restart with backoff, stop.

Exit is watched through a pidfd in the event loop (no thread per child), which also
works for processes adopted from a supervisor that died; every health probe (and, for
an instance without a check, a tick every second) also looks in /proc, so an exit the
pidfd did not report is still seen. When the leader exits, whatever it started goes
with it: SIGKILL to its process group while the leader is still unreaped (so the group's
id cannot have been reused) and to its cgroup, when there is one.
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
from pathlib import Path
from typing import Any

from leapfrog.runtime.local.cgroups import InstanceCgroup
from leapfrog.runtime.local.health import HealthTracker, probe
from leapfrog.runtime.local.launch import Launch
from leapfrog.runtime.local.logwriter import LogWriter
from leapfrog.runtime.local.network import NetworkError
from leapfrog.runtime.local.spawn import (
    SpawnError,
    describe_exit,
    popen,
    prepare_component,
    prepare_files,
    prepare_volumes,
)
from leapfrog.shared.durations import format_duration
from leapfrog.shared.probes import SchemeMemory
from leapfrog.shared.procs import (
    group_alive,
    group_members,
    kill_group,
    process_gone,
    process_start_time,
)

__all__ = ["Instance", "InstanceState"]

NO_CHECK_SETTLE = 0.5
"""An instance without a check counts as healthy once it has stayed up this long."""
RECONCILE_INTERVAL = 1.0
"""How often /proc is read for an instance without a check (one with is read per probe)."""
_KILL_WAIT = 10.0
"""How long a SIGKILLed process may take to go (it may be in uninterruptible sleep)."""
_LEFTOVER_WAIT = 5.0
"""How long what a leader left behind may take to go after SIGKILL."""
_HEALTH_END_WAIT = 1.0
"""How long the health loop may take to end after its cancellation."""


class InstanceState(enum.StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    CRASHLOOP = "crashloop"
    STOPPED = "stopped"


class Instance:
    def __init__(
        self,
        launch: Launch,
        on_change: Callable[[Instance, bool], None],
        cgroups: Path | None = None,
        output: LogWriter | None = None,
    ) -> None:
        """`output`: where the instance's output goes, rotated; without one (tests of
        this class alone), straight into its log file."""
        self.launch = launch
        self._output = output
        self._on_change = on_change
        self.cgroup = InstanceCgroup(cgroups / launch.name) if cgroups is not None else None
        """Holds every process of this instance, when the machine allows cgroups."""
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
        self._pidfd: int | None = None
        self._reap: Callable[[], int | None] = lambda: None
        self._left_behind = 0
        """Processes the last leader left running when it exited (they were killed)."""
        self._stopping = asyncio.Event()
        self._first_spawn = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self._scheme = SchemeMemory()
        """TLS or plain HTTP: which one its HTTP check was last answered in."""

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
        finally:
            self._forget_pidfd()

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
            assert self._exited is not None
            exited, pid = self._exited, self.pid
            health = asyncio.get_running_loop().create_task(self._health_loop(exited))
            code = await exited
            health.cancel()
            # Not `await health`: a probe that swallows its cancellation (asyncio.wait_for
            # in Python 3.11 does when the probe ends in the same loop turn) would hold
            # the exit up for good; the loop ends by itself anyway once it sees the exit.
            await asyncio.wait({health}, timeout=_HEALTH_END_WAIT)
            self.pid, self.exit_code = None, code
            if pid is not None:
                await self._wait_group_gone(pid)
            if self._stopping.is_set():
                break
            if not self._should_restart(code):
                self.completed = code == 0
                if code != 0 and not self._healthy_once:
                    self.failure = f"{describe_exit(code)} before becoming healthy"
                self._set(InstanceState.STOPPED, self._exit_words(code), pid_changed=True)
                return
            if time.monotonic() - spawned >= self.launch.restart.reset_after:
                self._crashes_in_a_row, backoff = 0, self.launch.restart.backoff
            self._crashes_in_a_row += 1
            self.restarts += 1
            detail = f"{self._exit_words(code)}; restarting in {format_duration(backoff)}"
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
        if self.cgroup is not None:
            self.cgroup.remove()
        self._set(InstanceState.STOPPED, "stopped", pid_changed=True)

    def _exit_words(self, code: int | None) -> str:
        words = describe_exit(code)
        if self._left_behind:
            words += f" (the {self._left_behind} process(es) it left running were killed)"
        return words

    def _should_restart(self, code: int | None) -> bool:
        policy = self.launch.restart.policy
        return policy == "always" or (policy == "on-failure" and code != 0)

    async def _spawn(self) -> None:
        """Start the process. Popen runs in a worker thread: it waits for the child's exec,
        which under load takes far longer than the fork, and spawns should overlap."""
        procs = await self._fresh_cgroup()
        output: int | None = None
        try:
            loop = asyncio.get_running_loop()
            try:
                if self.launch.network.netns is not None:  # the host's: nothing to make
                    await loop.run_in_executor(None, self.launch.network.attach)
            except NetworkError as exc:
                raise SpawnError(str(exc)) from None
            prepare_files(self.launch)
            output = self._output_fd()
            if self.launch.volumes:
                # mkfs and mount of a size-limited volume take a while: off the loop.
                await loop.run_in_executor(None, prepare_volumes, self.launch)
            if self.launch.component is not None:
                self._set(InstanceState.STARTING, "preparing (init steps)")
                await loop.run_in_executor(None, prepare_component, self.launch, output, procs)
            self._proc = await loop.run_in_executor(None, popen, self.launch, output, procs)
        finally:
            for fd in (procs, output):
                if fd is not None:
                    os.close(fd)
        proc = self._proc
        self._watch(proc.pid, proc.poll)
        self.started_at = time.time()
        if self._healthy_once:  # after a healthy run, the start deadline counts anew
            self._first_spawn = time.monotonic()
        self._healthy_once = False
        self._set(InstanceState.STARTING, "started", pid_changed=True)

    def _output_fd(self) -> int:
        launch = self.launch
        if self._output is None:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            return os.open(launch.log_path, flags, 0o640)
        try:
            return self._output.output_for(launch.name, launch.log_path, launch.log_limits)
        except OSError as exc:
            raise SpawnError(f"cannot open the log pipe of {launch.name}: {exc}") from None

    async def _fresh_cgroup(self) -> int | None:
        """The instance's cgroup, emptied of anything an earlier run left (this is how a
        new start gets rid of what a killed supervisor could not stop); its cgroup.procs
        open for the child to join."""
        cgroup = self.cgroup
        if cgroup is None or not cgroup.create():
            return None
        if cgroup.pids():
            cgroup.kill()
            await self._until(lambda: not cgroup.pids(), _LEFTOVER_WAIT)
        return cgroup.open_procs()

    def _adopt(self, pid: int, ticks: int) -> None:
        self._proc = None
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            raise SpawnError("adopted process is gone") from None
        # Checked after pidfd_open: from then on the pidfd is that very process, so a pid
        # the kernel gave to someone else since cannot be mistaken for it.
        if process_start_time(pid) != ticks:
            os.close(pidfd)
            raise SpawnError("adopted process is gone")
        self._watch(pid, lambda: None, pidfd)
        if self._output is not None:
            self._output.follow(self.name, self.launch.log_path, self.launch.log_limits)
        self._healthy_once = False
        self._set(InstanceState.STARTING, "adopted from an earlier supervisor", pid_changed=True)

    def _watch(self, pid: int, reap: Callable[[], int | None], pidfd: int | None = None) -> None:
        loop = asyncio.get_running_loop()
        self._exited = loop.create_future()
        self._reap = reap
        self._left_behind = 0
        self.pid, self.start_ticks = pid, process_start_time(pid)
        if pidfd is None:
            try:
                pidfd = os.pidfd_open(pid)
            except ProcessLookupError:
                self._exit_seen()
                return
        self._pidfd = pidfd
        loop.add_reader(pidfd, self._exit_seen)
        if self.start_ticks is None:  # it exited before its start time was read
            self._exit_seen()

    def _forget_pidfd(self) -> None:
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def _exit_seen(self) -> None:
        """The leader is gone (its pidfd said so, or /proc did): end what it left behind,
        reap it, resolve this run. Never blocks."""
        exited, pid = self._exited, self.pid
        if exited is None or exited.done():
            return
        self._forget_pidfd()
        if pid is not None:
            # Before the reap: an unreaped leader keeps its pid, so the group is still its.
            self._left_behind = self._kill_leftovers(pid)
        code = self._reap()
        exited.set_result(code)

    def _kill_leftovers(self, pgid: int) -> int:
        """SIGKILL to the process group and the cgroup of a leader that exited; how many
        processes were left."""
        left = set(group_members(pgid))
        if self.cgroup is not None:
            left.update(self.cgroup.pids())
            self.cgroup.kill()
        kill_group(pgid, signal.SIGKILL)
        left.discard(pgid)
        return len(left)

    def _reconciled(self, exited: asyncio.Future[int | None]) -> bool:
        """True while this run's process still runs. Looks in /proc, so an exit the pidfd
        did not report (or a pid reused since) is noticed here."""
        if exited.done() or exited is not self._exited:
            return False
        if self.pid is None or process_gone(self.pid, self.start_ticks):
            self._exit_seen()
            return False
        return True

    async def _until(self, done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def _exit_within(self, exited: asyncio.Future[int | None], timeout: float) -> bool:
        """Wait for the leader's exit, looking in /proc too, for at most `timeout`."""
        deadline = time.monotonic() + timeout
        while self._reconciled(exited):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.wait({exited}, timeout=min(remaining, 0.25))
        return True

    async def _wait_group_gone(self, pgid: int) -> None:
        """What the leader left was SIGKILLed; wait (a little) until it is gone, so that a
        new start finds its port free."""

        def gone() -> bool:
            cgroup_empty = self.cgroup is None or not self.cgroup.pids()
            return cgroup_empty and not group_alive(pgid)

        if not await self._until(gone, _LEFTOVER_WAIT):
            print(f"{self.name}: processes of pid {pgid} outlived SIGKILL", flush=True)

    async def _terminate(self) -> None:
        """Stop signal to the whole process group, SIGKILL (group and cgroup) after the
        grace period; returns once the leader is gone or could not be killed."""
        pid, exited = self.pid, self._exited
        if pid is None or exited is None or exited.done():
            if self.cgroup is not None and self.cgroup.pids():  # an init step, say
                self.cgroup.kill()
            return
        kill_group(pid, signal.Signals[self.launch.stop_signal])
        if await self._exit_within(exited, self.launch.stop_grace_period):
            return
        kill_group(pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill()
        if not await self._exit_within(exited, _KILL_WAIT):
            print(f"{self.name}: pid {pid} outlived SIGKILL; given up on", flush=True)
            self._exit_seen()

    async def stop(self) -> None:
        """Stop the process; returns within its grace period plus a few seconds whatever
        state the instance is in."""
        self._stopping.set()
        await self._terminate()
        task = self._task
        if task is None:
            self._set(InstanceState.STOPPED, "stopped", pid_changed=True)
            return
        # The run ends by itself now (its last act records the instance as stopped);
        # should it not, it is cancelled. wait() neither raises if the task was
        # cancelled nor cancels it if we are.
        limit = self.launch.stop_grace_period + _KILL_WAIT + _LEFTOVER_WAIT
        await asyncio.wait({task}, timeout=limit)
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=_HEALTH_END_WAIT)
            self._forget_pidfd()
            self.pid = None
            self._set(InstanceState.STOPPED, "stopped (its run did not end; cancelled)", True)

    def kill_now(self) -> None:
        """SIGKILL to everything of this instance at once, for a supervisor out of time."""
        if self.pid is not None:
            kill_group(self.pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill()

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

    async def _health_loop(self, exited: asyncio.Future[int | None]) -> None:
        """Probes until the process exits; each turn first checks /proc for that exit."""
        check = self.launch.check
        if check is None:
            await asyncio.sleep(NO_CHECK_SETTLE)
            if not self._reconciled(exited):
                return
            self._healthy_once = True
            self.failure = None
            self._set(InstanceState.HEALTHY, "running (no check)")
            while self._reconciled(exited):
                await asyncio.sleep(RECONCILE_INTERVAL)
            return
        tracker = HealthTracker(check, late=self.failure is not None)
        while self._reconciled(exited):
            probed_at = time.monotonic()
            ok, detail = await probe(self.launch, self._scheme)
            self.check_seconds = time.monotonic() - probed_at
            if ok and not self._healthy_once:
                ok, detail = await self._set_up(detail)
            if not self._reconciled(exited):
                return  # what the probe saw is about a process that is gone
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
            "cgroup": str(self.cgroup.path) if self.cgroup is not None else None,
            "log": str(launch.log_path),
        }
