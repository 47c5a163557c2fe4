"""The supervisor: starts units in dependency order, in parallel where it can, keeps them
running, publishes their state, and stops them in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from leapfrog.plan import Plan
from leapfrog.runtime.local.cgroups import InstanceCgroup, stack_cgroups
from leapfrog.runtime.local.instance import Instance, InstanceState
from leapfrog.runtime.local.launch import Launch
from leapfrog.runtime.local.logwriter import LogWriter
from leapfrog.runtime.local.network import release_network
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.runtime.local.reconcile import Changes, diff, identity_turned, replace_rolling
from leapfrog.runtime.local.registrar import Registrar
from leapfrog.runtime.local.revisions import RolloutRecord
from leapfrog.runtime.local.rollouts import Rollouts
from leapfrog.runtime.local.volumes import unmount_all
from leapfrog.shared.files import atomic_write_json
from leapfrog.shared.procs import process_start_time

if TYPE_CHECKING:
    from leapfrog.runtime.local.intentions import IntentionKeeper

__all__ = ["Supervisor"]

_STATE_WRITE_DELAY = 0.05
_STOP_MARGIN = 10.0
"""Stopping everything may take the sum of the grace periods and this much more."""
_TASK_END_WAIT = 5.0
_IDENTITY_ROLLOUT_WAIT = 120.0
"""Identity turned off: how long the components wait for the services' rollouts."""


class Companion(Protocol):
    """Runs beside the supervisor (the telemetry collector): started after the control
    socket, closed once every instance has stopped."""

    def start(self) -> None: ...
    async def close(self) -> None: ...


class Supervisor:
    def __init__(
        self,
        plan: Plan,
        launches: Mapping[str, list[Launch]],
        paths: StatePaths,
        stack_file: str,
        *,
        adopt: Mapping[str, tuple[int, int]] | None = None,
        carried: Mapping[str, int] | None = None,
    ) -> None:
        self.plan = plan
        self.paths = paths
        self.stack_file = stack_file
        self._adopt = dict(adopt or {})
        self.carried = dict(carried or {})
        """Adopted instances of a rollout an earlier supervisor was killed in: the
        revision each runs (their service's rollout resumes, resumption.py)."""
        self.cgroups = stack_cgroups(paths.root, paths.cgroup_record)
        """Parent of the instances' cgroups; None where cgroups cannot be made."""
        self.log_writer = LogWriter(paths.pipes)
        """Moves every instance's output from its pipe into its rotated log."""
        self.units: dict[str, list[Instance]] = {
            unit: [self._instance(launch) for launch in unit_launches]
            for unit, unit_launches in launches.items()
        }
        self.instances: dict[str, Instance] = {
            i.name: i for group in self.units.values() for i in group
        }
        self._started = {unit: asyncio.Event() for unit in self.units}
        self._healthy = {unit: asyncio.Event() for unit in self.units}
        self._change = asyncio.Event()
        self.version = 0
        self._write_handle: asyncio.Handle | None = None
        self._write_soon = False
        self._log_file: TextIO | None = None
        self._starters: list[asyncio.Task[None]] = []
        self.stop_requested = asyncio.Event()
        self.stopped = asyncio.Event()
        self.stopping = False
        self.started_at = time.time()
        self._start_ticks = process_start_time(os.getpid())
        self._retiring: set[Instance] = set()
        """Instances a new stack file dropped, while they stop."""
        self.observers: list[Callable[[Instance], None]] = []
        """Called with each instance whose state was published."""
        self.companions: list[Companion] = []
        self.event_sinks: list[Callable[[dict[str, object]], None]] = []
        """Called with each of the supervisor's own events (an autoscaling decision)."""
        self.unit_status: dict[str, dict[str, Any]] = {}
        """What companions report per unit for `status` (the autoscaler's last decision)."""
        self.rollouts = Rollouts(self)
        """Each service's revisions and its rollout (see rollouts.py)."""
        self.intentions: IntentionKeeper | None = None
        """Writes the intentions from the callers when the stack turns identity on
        (intentions.py); services start after its first write."""
        catalog = launches.get("catalog")
        self.registrar = Registrar.for_catalog(
            catalog[0] if catalog else None, paths, plan.stack_name
        )

    def _instance(self, launch: Launch) -> Instance:
        return Instance(launch, self._changed, self.cgroups, self.log_writer)

    def kafka_bootstrap(self) -> str | None:
        """Where telemetry goes: the stack's own Kafka, else the supervisor's
        KAFKA_BOOTSTRAP_SERVERS; None when there is no Kafka (nothing is collected)."""
        for instance in self.instances.values():
            run = instance.launch.component
            if run is not None:
                env = run.component.connection_env(run.options, run.where)
                if env.get("KAFKA_BOOTSTRAP_SERVERS"):
                    return env["KAFKA_BOOTSTRAP_SERVERS"]
        return os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None

    # -- state publishing -----------------------------------------------------------------

    def _log(self, line: str) -> None:
        """The supervisor's own log: what happened to which instance, and when."""
        if self._log_file is None:
            self._log_file = open(self.paths.supervisor_log, "a", buffering=1)  # noqa: SIM115
        self._log_file.write(line + "\n")

    def _changed(self, instance: Instance, pid_changed: bool) -> None:
        self.version += 1
        pid = f" pid={instance.pid}" if instance.pid else ""
        self.log_line(f"{instance.name} {instance.state}{pid}: {instance.detail}")
        for observe in self.observers:
            observe(instance)
        unit = instance.launch.unit
        if self.registrar is not None and instance.launch.kind == "component":
            self.registrar.follow(instance.launch, instance.state == InstanceState.HEALTHY)
        group = self.units.get(unit, [])
        if group and all(i.state == InstanceState.HEALTHY or i.completed for i in group):
            self._healthy[unit].set()
        self._bump()
        loop = asyncio.get_running_loop()
        if pid_changed and (self._write_handle is None or not self._write_soon):
            # A new pid goes to disk at the end of this loop turn: one write for a whole
            # batch of spawns, and still before the supervisor does anything else.
            if self._write_handle is not None:
                self._write_handle.cancel()
            self._write_handle = loop.call_soon(self.write_state)
            self._write_soon = True
        elif self._write_handle is None:
            self._write_handle = loop.call_later(_STATE_WRITE_DELAY, self.write_state)
            self._write_soon = False

    def _bump(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    def log_line(self, text: str) -> None:
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))
        self._log(f"{stamp}.{int(now % 1 * 1000):03d} {text}")

    def emit(self, event: dict[str, object]) -> None:
        """One of the supervisor's own events, to every sink (the telemetry collector)."""
        for sink in self.event_sinks:
            sink(event)

    def changed(self) -> Coroutine[Any, Any, bool]:
        """Awaitable that returns at the next change after this call (not after its first await)."""
        return self._change.wait()

    def snapshot(self) -> dict[str, Any]:
        return {
            "stack": self.plan.stack_name,
            "stack_file": self.stack_file,
            "version": self.version,
            "stopping": self.stopping,
            "supervisor": {
                "pid": os.getpid(),
                "start_ticks": self._start_ticks,
                "started_at": self.started_at,
                "socket": str(self.paths.control_socket),
            },
            "units": {
                name: {
                    "depends_on": dict(self.plan.units[name].depends_on),
                    "kind": self.plan.units[name].kind,
                    # Desired: the stack file's replicas, or what `leapfrog scale` set.
                    "replicas": self.plan.units[name].replicas,
                    **self.unit_status.get(name, {}),
                }
                for name in self.plan.order
            },
            "instances": [i.snapshot() for name in self.plan.order for i in self.units[name]],
            "rollouts": self.rollouts.summary(),
        }

    def write_state(self) -> None:
        if self._write_handle is not None:
            self._write_handle.cancel()
            self._write_handle = None
        atomic_write_json(self.paths.state_file, self.snapshot(), mode=0o600)

    # -- start ----------------------------------------------------------------------------

    def start(self) -> None:
        self.log_writer.start()
        for companion in self.companions:
            companion.start()
        # Every instance's cgroup now, before any process moves into one: a cgroup's mkdir
        # waits for the kernel's cgroup lock, which each starting child takes to join its
        # cgroup, so made one by one between the spawns they blocked the event loop for
        # milliseconds each (~10 ms per instance with 20 starting at once). Made here, all
        # 20 take well under a millisecond; each start still empties its own.
        for instance in self.instances.values():
            if instance.cgroup is not None:
                instance.cgroup.create()
        started = self.rollouts.started()
        if self.intentions is not None:
            self.intentions.start()
        loop = asyncio.get_running_loop()
        for unit in self.plan.order:
            self._starters.append(loop.create_task(self._start_unit(unit), name=f"start {unit}"))
        # The services' histories go to disk after the starters' first steps, which hand
        # the spawns to the spawner threads: written first, the 20 files (a temp file and
        # a rename each) held every spawn back by 25-140 ms on a busy disk.
        loop.call_soon(self._save_histories, started)

    def _save_histories(self, records: list[RolloutRecord]) -> None:
        try:
            self.rollouts.save(records)
        except OSError as exc:
            # The services run as started; only their history lacks this start.
            self.log_line(f"could not write the services' rollout history: {exc}")

    async def _start_unit(self, unit: str, only: list[Instance] | None = None) -> None:
        group = self.units[unit] if only is None else only
        for dep, condition in self.plan.units[unit].depends_on.items():
            if dep not in self.units:
                continue
            event = self._healthy[dep] if condition == "healthy" else self._started[dep]
            if not event.is_set():
                for instance in group:
                    instance.wait_for(f"waiting for {dep} to be {condition}")
                await event.wait()
        keeper = self.intentions
        service = self.plan.units[unit].kind == "service"
        if keeper is not None and service and not keeper.gate.is_set():
            for instance in group:
                instance.wait_for("waiting for the intentions to be written")
            await keeper.gate.wait()
        for instance in group:
            instance.start(self._adopt.pop(instance.name, None))
        self._started[unit].set()
        if not group:
            self._healthy[unit].set()

    async def wait_started(self, unit: str) -> None:
        """Returns once every instance of `unit` has been started (or adopted)."""
        if unit in self._started:
            await self._started[unit].wait()

    async def wait_healthy(self, unit: str) -> None:
        """Returns once every instance of `unit` has been healthy (at its first start)."""
        if unit in self._healthy:
            await self._healthy[unit].wait()

    # -- control ----------------------------------------------------------------------------

    def find(self, name: str) -> list[Instance]:
        if name in self.units:
            return list(self.units[name])
        if name in self.instances:
            return [self.instances[name]]
        return []

    async def restart(self, name: str) -> list[str]:
        targets = self.find(name)
        await asyncio.gather(*(i.restart() for i in targets))
        return [i.name for i in targets]

    # -- apply a changed stack --------------------------------------------------------------

    def apply(self, plan: Plan, launches: Mapping[str, list[Launch]]) -> Changes:
        """Take a new plan: decide now what changes, carry it out in the background."""
        wanted = {launch.name: launch for group in launches.values() for launch in group}
        changes = diff({n: i.launch for n, i in self.instances.items()}, wanted)
        turned = identity_turned((i.launch for i in self.instances.values()), wanted.values())
        # A rollout in progress to the very revision this plan has goes on as it is: its
        # surge instances stay, the instances it has yet to replace are its business.
        held = self.rollouts.continuing(plan)
        surge = [self.instances[n] for n in changes.stop if self.instances[n].launch.unit in held]
        for extra in surge:
            changes.stop.remove(extra.name)
        gone = [self.instances[n] for n in changes.stop]
        fresh: dict[str, list[Instance]] = {}
        units: dict[str, list[Instance]] = {}
        for unit in plan.order:
            units[unit] = []
            for launch in launches[unit]:
                instance = self.instances.get(launch.name)
                if instance is None:
                    instance = self._instance(launch)
                    fresh.setdefault(unit, []).append(instance)
                units[unit].append(instance)
            units[unit].extend(i for i in surge if i.launch.unit == unit)
            self._started.setdefault(unit, asyncio.Event())
            self._healthy.setdefault(unit, asyncio.Event())
        for name in changes.keep:
            self._new_log_limits(self.instances[name], wanted[name])
        for name in changes.reconfigure:
            self._starters.append(
                asyncio.get_running_loop().create_task(
                    self.instances[name].reconfigure(wanted[name])
                )
            )
        rolling: dict[str, list[tuple[Instance, Launch]]] = {}
        rollouts: list[str] = []
        for name in [n for n in changes.replace if self.instances[n].launch.unit in held]:
            changes.replace.remove(name)
        for name in changes.replace:
            instance = self.instances[name]
            instance.pending = True
            unit = instance.launch.unit
            if plan.units[unit].kind == "service":
                if unit not in rollouts:  # a service's change is a rollout of a revision
                    self.rollouts.cancel(unit)
                    rollouts.append(unit)
            else:
                rolling.setdefault(unit, []).append((instance, wanted[name]))
        self.plan, self.units = plan, units
        self.instances = {i.name: i for group in units.values() for i in group}
        self.rollouts.session = set(rollouts) | held
        self.log_line(f"applying {self.stack_file}: {changes.summary()}")
        self._bump()
        loop = asyncio.get_running_loop()
        self._starters.append(
            loop.create_task(self._carry_out(gone, fresh, rolling, rollouts, turned))
        )
        return changes

    def track(self, task: asyncio.Task[None]) -> None:
        """A background task of the running stack: cancelled when it stops."""
        self._starters.append(task)

    def _new_log_limits(self, instance: Instance, wanted: Launch) -> None:
        """Log limits apply to a running instance: its output's writer takes them now."""
        limits = wanted.log_limits
        if instance.launch.log_limits != limits:
            instance.launch = dataclasses.replace(instance.launch, log_limits=limits)
            self.log_writer.follow(instance.name, instance.launch.log_path, limits)

    async def _carry_out(
        self,
        gone: list[Instance],
        fresh: dict[str, list[Instance]],
        rolling: dict[str, list[tuple[Instance, Launch]]],
        rollouts: list[str],
        identity: str = "",
    ) -> None:
        """`identity`: "on" or "off" when the change turns it so (`identity_turned`)."""
        self._retiring.update(gone)
        if self.registrar is not None:
            for instance in gone:
                self.registrar.deregister(instance.name)
        await asyncio.gather(*(i.stop() for i in gone))
        self._retiring.difference_update(gone)
        replaced = [replace_rolling(self, pairs) for pairs in rolling.values()]
        if identity == "on":
            await asyncio.gather(*replaced)
            replaced = []
        for unit in rollouts:  # after `gone`: a surge instance takes a name that may leave
            self.rollouts.begin(unit, self.plan.units[unit].service.model_dump(mode="json"), "up")
        if identity == "off":
            running = [self.rollouts.tasks[u] for u in rollouts if u in self.rollouts.tasks]
            if running:  # bounded: a rollout held at a canary pause does not hold the rest
                await asyncio.wait(running, timeout=_IDENTITY_ROLLOUT_WAIT)
        await asyncio.gather(
            *(self._start_unit(unit, group) for unit, group in fresh.items()), *replaced
        )
        self.write_state()

    # -- scale (scaling.py decides; these change the running set) ---------------------------

    def grow(self, unit: str, launches: list[Launch]) -> list[Instance]:
        """New instances of a running unit, started after its dependencies as at first start."""
        fresh = [self._instance(launch) for launch in launches]
        for instance in fresh:  # all at once, before any child joins one (see `start`)
            if instance.cgroup is not None:
                instance.cgroup.create()
        self.units[unit].extend(fresh)
        self.instances.update((i.name, i) for i in fresh)
        self._bump()
        loop = asyncio.get_running_loop()
        self._starters.append(loop.create_task(self._start_unit(unit, fresh)))
        return fresh

    def retire(
        self, unit: str, count: int, before_stop: Callable[[Instance], Coroutine[Any, Any, None]]
    ) -> asyncio.Task[None]:
        """The unit's `count` highest instances leave it now and stop in the background,
        each once `before_stop` (out of the load balancer) is done. Until stopped they
        stay in the stop budget, and a shutdown meanwhile stops them."""
        group = sorted(self.units[unit], key=lambda i: i.launch.index)
        leaving = group[len(group) - count :]
        self.units[unit] = group[: len(group) - count]
        for instance in leaving:
            del self.instances[instance.name]
        self._retiring.update(leaving)

        async def one(instance: Instance) -> None:
            await before_stop(instance)
            await instance.stop()
            self._retiring.discard(instance)

        async def every() -> None:
            await asyncio.gather(*(one(i) for i in leaving))
            self.write_state()

        self._bump()
        task = asyncio.get_running_loop().create_task(every())
        self._starters.append(task)
        return task

    # -- stop -----------------------------------------------------------------------------

    def stop_budget(self) -> float:
        """How long stopping everything may take: the sum of the grace periods and a margin
        (units stop one after another, so no shorter bound holds for every stack)."""
        everyone = [*self.instances.values(), *self._retiring]
        return sum(i.launch.stop_grace_period for i in everyone) + _STOP_MARGIN

    def kill_everything(self) -> None:
        """SIGKILL to every process of every instance, now: a supervisor out of time, or
        asked a second time to stop, leaves nothing behind."""
        for instance in [*self.instances.values(), *self._retiring]:
            instance.kill_now()

    async def shutdown(self) -> None:
        """Stop every unit after the units that depend on it (and the components that read
        the others before those: `Plan.stopped_before`), each instance in parallel;
        within `stop_budget()` whatever state the instances are in."""
        self.stopping = True
        self.write_state()  # on disk too: `status` of a supervisor that hangs says it stops
        budget = self.stop_budget()
        for task in self._starters:
            task.cancel()
        if self._starters:
            await asyncio.wait(self._starters, timeout=_TASK_END_WAIT)
        done: dict[str, asyncio.Event] = {unit: asyncio.Event() for unit in self.units}

        async def stop_unit(unit: str) -> None:
            for first in self.plan.stopped_before(unit):
                if first in done:
                    await done[first].wait()
            await asyncio.gather(*(i.stop() for i in self.units[unit]))
            done[unit].set()

        try:
            async with asyncio.timeout(budget):
                await asyncio.gather(
                    *(stop_unit(u) for u in self.units), *(i.stop() for i in self._retiring)
                )
        except TimeoutError:
            self.log_line(f"stopping took longer than {budget:g}s; killing every process")
            self.kill_everything()
        self.write_state()
        # Before the collector's last read: what the pipes still hold goes to the files.
        await asyncio.to_thread(self.log_writer.close)
        if self.registrar is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_TASK_END_WAIT):
                    await self.registrar.close()
        for companion in self.companions:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_TASK_END_WAIT):
                    await companion.close()
        if self.intentions is not None:
            self.intentions.close()
        if self.cgroups is not None:
            InstanceCgroup(self.cgroups).remove()
        # Every process is gone: their namespaces, the bridge and the firewall go too.
        for left in await asyncio.to_thread(release_network, self.paths.root):
            self.log_line(f"network left behind: {left}")
        if (self.paths.root / "volumes.json").exists():
            # Size-limited volumes' file systems: mounted while the stack is up only.
            for left in await asyncio.to_thread(unmount_all, self.paths):
                self.log_line(f"a volume stays mounted: {left}")
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.stopped.set()
        self._change.set()
        self._change = asyncio.Event()
