"""The local runtime's operations, as the CLI calls them: up, status, down, restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leapfrog.runtime.local import control
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.runtime.local.recovery import (
    Leftover,
    leftovers,
    live_supervisor,
    read_state,
    remove_cgroups,
    stop_leftovers,
)
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.procs import is_running

if TYPE_CHECKING:
    # What starts a stack (the plan, the components, the supervisor) loads only in the
    # commands that start one: status, logs and down read state and the control socket.
    from leapfrog.plan import Plan
    from leapfrog.runtime.local.launch import Launch
    from leapfrog.runtime.local.platform import Installer
    from leapfrog.runtime.local.supervisor import Supervisor
    from leapfrog.spec import Stack

__all__ = [
    "Prepared",
    "apply",
    "down",
    "prepare",
    "restart",
    "run_foreground",
    "running",
    "secrets",
    "start_detached",
    "status",
    "watch",
]


_DOWN_MARGIN = 30.0
"""Beyond the sum of the grace periods, before `down` stops waiting for the supervisor."""


@dataclass(frozen=True)
class Prepared:
    stack: Stack
    paths: StatePaths
    plan: Plan
    launches: dict[str, list[Launch]]
    adopt: dict[str, tuple[int, int]]
    cleaned: list[str]
    notes: list[str] = field(default_factory=list)
    """What the user must know before it starts (a volume's size limit not enforced)."""
    carried: dict[str, int] = field(default_factory=dict)
    """Adopted instances of an interrupted rollout, by name: the revision each runs (the
    supervisor resumes their service's rollout, resumption.py)."""

    def supervisor(self) -> Supervisor:
        from leapfrog.runtime.local.supervisor import Supervisor

        made = Supervisor(
            self.plan,
            self.launches,
            self.paths,
            str(self.stack.path),
            adopt=self.adopt,
            carried=self.carried,
        )
        if made.kafka_bootstrap() is not None:
            # Without Kafka nothing is collected: the collector (the telemetry shipper and
            # its Kafka client) is not even loaded, which keeps it off the path to the
            # first spawn.
            from leapfrog.runtime.local.collector import Collector

            Collector.attach(made, self.stack.spec.host_logs)
        if self.stack.spec.identity_on:
            from leapfrog.runtime.local.intentions import IntentionKeeper

            IntentionKeeper.attach(made, self.stack.spec, self.paths)
        if any(s.autoscale is not None for s in self.stack.spec.services.values()):
            from leapfrog.runtime.local.autoscaler import Autoscaler

            Autoscaler.attach(made, dict(self.stack.spec.services))
        return made


def prepare(
    stack: Stack,
    on_cleanup: Callable[[Leftover], None] = lambda _: None,
    installer: Installer | None = None,
) -> Prepared:
    """Everything `up` checks before it starts anything.

    A supervisor that died leaves instances behind: those whose configuration is
    unchanged are adopted, and so are those of a service whose rollout it was killed in,
    running its source or target revision (resumption.py); the others are stopped.
    """
    from leapfrog.plan import build_plan
    from leapfrog.runtime.local.isolation import enforce_network
    from leapfrog.runtime.local.launch import build_launches
    from leapfrog.runtime.local.resumption import CarriedOver, carry_over
    from leapfrog.runtime.local.volumes import record_volumes

    paths = StatePaths(stack.state_dir)
    state = read_state(paths)
    pid = live_supervisor(state)
    if pid is not None:
        raise LeapfrogError(
            f"the stack in {stack.base_dir} is already up (supervisor pid {pid})",
            hint="see `leapfrog status`, or `leapfrog down` first",
        )
    paths.create()
    plan = build_plan(stack)
    launches = build_launches(stack, plan, paths, installer)
    by_name = {launch.name: launch for group in launches.values() for launch in group}
    adopt: dict[str, tuple[int, int]] = {}
    stale: list[Leftover] = []
    for item in leftovers(state):
        launch = by_name.get(item.name)
        same = launch is not None and launch.config_hash == item.config_hash
        if same and item.pid is not None and item.start_ticks is not None:
            adopt[item.name] = (item.pid, item.start_ticks)
        else:
            stale.append(item)
    carried = carry_over(stack, paths, stale) if stale else CarriedOver()
    for item in [s for s in stale if s.name in carried.launches]:
        stale.remove(item)
        assert item.pid is not None and item.start_ticks is not None
        adopt[item.name] = (item.pid, item.start_ticks)
        _run_as(launches, carried.launches[item.name])
        by_name[item.name] = carried.launches[item.name]
    if stack.spec.catalog.enabled and stack.spec.catalog.acl:
        from leapfrog.runtime.local.platform import prune_instance_tokens

        prune_instance_tokens(paths, by_name)  # a fresh start: no other instance runs
    stop_leftovers(stale, on_cleanup)
    _check_ports(stack, by_name, adopt)
    notes = enforce_network(stack, launches, paths) + record_volumes(stack, paths)
    cleaned = [s.name for s in stale]
    return Prepared(stack, paths, plan, launches, adopt, cleaned, notes, carried.revisions)


def _run_as(launches: dict[str, list[Launch]], launch: Launch) -> None:
    """`launch` (an adopted instance's, of an older revision or a surge one) in its unit's
    list, in place of the stack file's for that name."""
    group = [other for other in launches[launch.unit] if other.name != launch.name]
    launches[launch.unit] = sorted([*group, launch], key=lambda each: each.index)


def _check_ports(stack: Stack, launches: dict[str, Launch], adopt: dict[str, Any]) -> None:
    from leapfrog.runtime.local.spawn import port_conflict

    for name, launch in launches.items():
        if launch.port is None or name in adopt or launch.network.netns is not None:
            continue  # in a network namespace of its own, nothing else holds its port
        who = port_conflict(launch.address, launch.port)
        if who is not None:
            key, fix = {
                "catalog": ("catalog.http", "set another `catalog.http` address:port"),
                "component": (f"components.{launch.unit}", "set another `port:` in its options"),
            }.get(launch.kind, (f"services.{launch.unit}.port", "change `port:` of the service"))
            line = stack.line_of(key)
            where = f"{stack.path.name}:{line}" if line else stack.path.name
            raise LeapfrogError(
                f"{where}: {name} cannot listen on {launch.address}:{launch.port}: {who}",
                hint=f"stop that program, or {fix}",
            )


def run_foreground(
    prepared: Prepared,
    companion: Callable[[Supervisor], Coroutine[Any, Any, None]] | None = None,
) -> None:
    from leapfrog.runtime.local.daemon import serve

    async def main() -> None:
        await serve(prepared.supervisor(), companion=companion)

    asyncio.run(main())


def start_detached(prepared: Prepared) -> int:
    from leapfrog.runtime.local.daemon import detach

    log = prepared.paths.supervisor_log
    return detach(prepared.supervisor, str(log))


def watch(paths: StatePaths, op: str = "watch") -> Iterator[dict[str, Any]]:
    """Snapshots from the running supervisor, one per change."""
    try:
        yield from control.stream(paths.control_socket, {"op": op})
    except OSError as exc:
        raise LeapfrogError(
            f"cannot reach the supervisor of {paths.root}: {exc.strerror or exc}",
            hint="is the stack up? `leapfrog up -d` starts it",
        ) from None


def status(paths: StatePaths) -> dict[str, Any] | None:
    """The live snapshot, or the last one on disk (marked not running), or None."""
    state = read_state(paths)
    if live_supervisor(state) is not None:
        try:
            answer = control.request(paths.control_socket, {"op": "status"}, timeout=10)
        except OSError:
            pass
        else:
            if isinstance(answer, dict):
                answer["running"] = True
                return answer
    if state is None:
        return None
    state["running"] = False
    for item in state.get("instances", []):
        alive = isinstance(item.get("pid"), int) and is_running(
            item["pid"], item.get("start_ticks")
        )
        if not alive:
            item.update(state="stopped", pid=None)
        else:
            item["detail"] = "orphaned: its supervisor is gone (`leapfrog down` stops it)"
    return state


def down(
    paths: StatePaths,
    on_snapshot: Callable[[dict[str, Any]], None],
    on_cleanup: Callable[[Leftover], None],
) -> bool:
    """Stop the stack; returns False when nothing was running."""
    state = read_state(paths)
    pid = live_supervisor(state)
    if pid is not None:
        # The supervisor keeps to the sum of the grace periods; one that does not (or
        # falls silent: a snapshot comes at least every second while stopping) is told
        # twice, which makes it kill everything, and then killed itself.
        deadline = time.monotonic() + _stop_budget(state)
        try:
            for snapshot in control.stream(paths.control_socket, {"op": "down"}, timeout=30):
                on_snapshot(snapshot)
                if time.monotonic() > deadline:
                    raise TimeoutError
        except OSError:  # TimeoutError included
            for _ in range(2):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                time.sleep(0.2)
        _wait_gone(pid, state)
        state = read_state(paths)
    stale = leftovers(state)
    stop_leftovers(stale, on_cleanup)
    remove_cgroups(paths)
    _unmount_volumes(paths)
    _release_network(paths)
    return pid is not None or bool(stale)


def _release_network(paths: StatePaths) -> None:
    """The namespaces, bridge and firewall tables of `network: {isolation: namespaces}`."""
    from leapfrog.runtime.local.isolation import release

    release(paths)


def _unmount_volumes(paths: StatePaths) -> None:
    """Volumes' file systems are mounted while the stack is up; their data stays in
    their images (see runtime.local.volumes)."""
    if not (paths.root / "volumes.json").exists():
        return
    from leapfrog.runtime.local.volumes import unmount_all

    left = unmount_all(paths)
    if left:
        raise LeapfrogError(
            "the stack is down, but volumes stay mounted: " + "; ".join(left),
            hint="see which process holds them open (fuser -vm PATH), then `leapfrog down`",
        )


def _stop_budget(state: dict[str, Any] | None) -> float:
    graces = [
        float(item.get("stop_grace_period", 10.0)) for item in (state or {}).get("instances", [])
    ]
    return sum(graces) + _DOWN_MARGIN


def _wait_gone(pid: int, state: dict[str, Any] | None, timeout: float = 30.0) -> None:
    ticks = (state or {}).get("supervisor", {}).get("start_ticks")
    deadline = time.monotonic() + timeout
    while is_running(pid, ticks):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.01)


def running(paths: StatePaths) -> int | None:
    """The pid of this state dir's supervisor, if one runs."""
    return live_supervisor(read_state(paths))


def apply(stack: Stack, installer: Installer | None = None) -> dict[str, list[str]]:
    """Bring a running stack to what its (changed) stack file says; returns the changes."""
    from leapfrog.plan import build_plan
    from leapfrog.runtime.local.launch import build_launches
    from leapfrog.runtime.local.network import network_for
    from leapfrog.runtime.local.volumes import record_volumes

    paths = StatePaths(stack.state_dir)
    # Its errors here, with their lines; and new components installed with progress.
    build_launches(stack, build_plan(stack), paths, installer)
    notes = record_volumes(stack, paths)
    isolation = network_for(stack, paths).note  # namespaces asked for, not available here
    notes = [isolation, *notes] if isolation else notes
    answer = control.request(paths.control_socket, {"op": "apply", "file": str(stack.path)})
    return dict(answer["changes"]) | {"notes": notes}


def restart(paths: StatePaths, name: str) -> list[str]:
    if live_supervisor(read_state(paths)) is None:
        raise LeapfrogError("the stack is not up", hint="`leapfrog up -d` starts it")
    answer = control.request(paths.control_socket, {"op": "restart", "name": name}, timeout=3600)
    return list(answer.get("restarted", []))


def secrets(stack: Stack) -> dict[str, dict[str, str]]:
    """Generated secrets by unit: the catalog's tokens (each service instance's own under
    its name, as `catalog token`) and each component's credentials."""
    from leapfrog.plan import build_plan
    from leapfrog.runtime.local.launch import build_launches
    from leapfrog.runtime.local.platform import INSTANCE_PREFIX, ensure_catalog_tokens

    paths = StatePaths(stack.state_dir)
    paths.create()
    launches = build_launches(stack, build_plan(stack), paths)
    found: dict[str, dict[str, str]] = {}
    if stack.spec.catalog.enabled and stack.spec.catalog.acl:
        tokens = ensure_catalog_tokens(paths).secrets
        found["catalog"] = {
            "management token": paths.catalog_token.read_text().strip(),
            "read token": tokens["read"],
            "dns token": tokens["dns"],
        }
        for key, secret in sorted(tokens.items()):
            if key.startswith(INSTANCE_PREFIX):
                found[key.removeprefix(INSTANCE_PREFIX)] = {"catalog token": secret}
    for group in launches.values():
        for launch in group:
            run = launch.component
            if run is not None:
                creds = run.component.credentials(run.options, run.where)
                if creds:
                    found[launch.name] = creds
    return found
