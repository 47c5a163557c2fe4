"""Rollouts of services: every change `up` applies to a service, `rollout undo` and an
automatic revert replace its instances a step at a time, and none leaves before its
replacement serves.

A rollout to a revision (the service's section of the stack file, see `revisions.py`):

1. `max_surge` instances of the new revision start beside the old ones, as
   `NAME-(N+1)`... (their own addresses, as `leapfrog scale` would start them).
2. They count once the supervisor's check and the catalog both say passing (for a
   service the catalog knows: one on the SDK), have stayed so for `min_ready`, and the
   load balancer has had `LB_SETTLE` to route to them.
3. Then the old instances are replaced `max_surge + max_unavailable` at a time, each in
   its own name and address (a per-instance volume stays its): maintenance in the
   catalog takes it out of the load balancer, `LB_SETTLE` later it gets its stop signal
   and drains, and the new process starts; the next step waits until they count.
4. At the end the surge instances leave the same way (maintenance, settle, stop).

A step that misses `progress_deadline`, or whose new instance fails (exits before
becoming healthy, crash-loops), fails the rollout; with `auto_revert` it then rolls back
to the previous revision the same way, and the history says why. A rollout pauses
between steps when asked (`rollout pause`) or when `canary` new instances serve, until
`rollout resume`. Progress is saved after every step: a supervisor killed mid-rollout
leaves the record of the last step and its instances running; the next `up` adopts
them, old revision and surge included (resumption.py), and resumes the rollout a step
at a time (`Rollouts.started`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leapfrog.runtime.local import revisions
from leapfrog.runtime.local.instance import InstanceState
from leapfrog.runtime.local.revisions import CanaryPeriod, Progress, RolloutRecord
from leapfrog.runtime.local.scaling import LB_SETTLE, maintenance
from leapfrog.shared.durations import format_duration
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.tls import plain_http_context

if TYPE_CHECKING:
    from leapfrog.plan import Plan
    from leapfrog.runtime.local.instance import Instance
    from leapfrog.runtime.local.launch import Launch
    from leapfrog.runtime.local.supervisor import Supervisor
    from leapfrog.spec import RolloutSpec

__all__ = ["OPS", "Rollouts"]

_POLL = 0.2
"""How often a step looks at its new instances and the catalog."""
_REASON = "leapfrog rollout: replaced"


class _StepFailed(Exception):
    pass


class Rollouts:
    """The supervisor's rollouts: at most one running per service."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.records: dict[str, RolloutRecord] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._resumed: dict[str, asyncio.Event] = {}
        self._busy: dict[str, asyncio.Future[None]] = {}
        """Instances being replaced (a cancelled rollout's replacement still finishes)."""
        self.on_revision: dict[str, int] = {}
        """Instance name -> the revision it runs."""
        self.session: set[str] = set()
        """Services whose rollout the last apply began: snapshots show them, and `up`
        waits for them (readiness.py)."""

    @property
    def root(self) -> Path:
        return self.sup.paths.root

    def record(self, service: str) -> RolloutRecord:
        if service not in self.records:
            self.records[service] = revisions.load(self.root, service)
        return self.records[service]

    def _save(self, record: RolloutRecord) -> None:
        revisions.save(self.root, record)

    def _services(self) -> list[str]:
        plan = self.sup.plan
        return [u for u in plan.order if plan.units[u].kind == "service"]

    def _section(self, service: str) -> dict[str, Any]:
        section: dict[str, Any] = self.sup.plan.units[service].service.model_dump(mode="json")
        return section

    # -- at start ---------------------------------------------------------------------------

    def started(self) -> list[RolloutRecord]:
        """The supervisor started every service from the stack file: that is each one's
        current revision. A rollout an earlier supervisor was killed in resumes when that
        supervisor's instances of it were adopted as they run (`sup.carried`,
        resumption.py); otherwise it is closed. Returns the records this changed, for the
        caller to `save` once the spawns are under way (they are decided here, in memory)."""
        changed: list[RolloutRecord] = []
        for service in self._services():
            record = self.record(service)
            left = record.rollout
            group = self.sup.units.get(service, [])
            behind = {i.name: self.sup.carried[i.name] for i in group if i.name in self.sup.carried}
            if behind and left is not None and left.active:
                self._resume(service, left, behind)
                continue
            rev = record.add(self._section(service), "up")
            rev.outcome = rev.outcome or "started by `up`"
            if left is not None and left.active:
                left.finished = time.time()
                if left.target == rev.number:
                    left.phase = "complete"
                    left.reason = "finished by `up` after the supervisor stopped mid-rollout"
                else:
                    left.phase = "failed"
                    left.reason = f"interrupted (the supervisor stopped); `up` started {rev.number}"
            record.current = rev.number
            for instance in group:
                self.on_revision[instance.name] = rev.number
            changed.append(record)
        return changed

    def save(self, records: list[RolloutRecord]) -> None:
        for record in records:
            self._save(record)

    def _resume(self, service: str, left: Progress, behind: dict[str, int]) -> None:
        """The rollout goes on to the stack file's revision from where the killed
        supervisor left it: the adopted instances of the old revision are replaced a step
        at a time, a surge instance it had started serves on as the surge."""
        self.sup.log_line(
            f"rollout: {service}: resuming the rollout the last supervisor was killed in "
            f"({', '.join(f'{n} at revision {r}' for n, r in sorted(behind.items()))})"
        )
        progress = self.begin(
            service, self._section(service), "up", resumed=left.resumed + 1, after_start=True
        )
        progress.pause_requested = left.pause_requested
        if left.target == progress.target:  # a canary promoted before the kill stays so
            progress.canary, progress.promoted = left.canary, left.promoted
        for instance in self.sup.units.get(service, []):
            self.on_revision[instance.name] = behind.get(instance.name, progress.target)
        self.session.add(service)

    def summary(self) -> dict[str, dict[str, Any]]:
        """The rollouts the last apply began, for snapshots: phase and message."""
        found: dict[str, dict[str, Any]] = {}
        for service in sorted(self.session):
            progress = self.record(service).rollout
            if progress is not None:
                found[service] = {"phase": progress.phase, "message": progress.message(service)}
        return found

    # -- begin a rollout ------------------------------------------------------------------

    def cancel(self, service: str) -> None:
        """A newer change of `service` supersedes its running rollout."""
        task = self.tasks.pop(service, None)
        if task is not None and not task.done():
            task.cancel()

    def continuing(self, plan: Plan) -> set[str]:
        """Services whose rollout in progress (or paused) goes to the revision `plan`
        has for them, at the same count: a new apply lets it go on."""
        found: set[str] = set()
        for service, task in self.tasks.items():
            unit = plan.units.get(service)
            progress = self.record(service).rollout
            if task.done() or unit is None or progress is None:
                continue
            target = self.record(service).revision(progress.target)
            if (
                progress.phase in ("progressing", "paused")
                and target is not None
                and target.digest == revisions.digest(unit.service.model_dump(mode="json"))
                and unit.replicas == progress.total
            ):
                found.add(service)
        return found

    def begin(
        self,
        service: str,
        section: dict[str, Any],
        cause: str,
        *,
        resumed: int = 0,
        after_start: bool = False,
    ) -> Progress:
        """Record `section` as the service's revision and roll the instances to it
        (`after_start`: once the supervisor has started or adopted them)."""
        self.cancel(service)
        record = self.record(service)
        source = record.current
        rev = record.add(section, cause)
        left = record.rollout
        if left is not None and left.active and left.target == rev.number:
            source = left.source  # the same change again: it still comes from there
        replicas = self.sup.plan.units[service].replicas
        progress = Progress(
            target=rev.number,
            source=source if source != rev.number else None,
            total=replicas,
            canary=self._strategy(section).canary,
            resumed=resumed,
        )
        record.rollout, record.current = progress, rev.number
        rev.outcome = ""
        self._save(record)
        self.sup.log_line(f"rollout: {service} to revision {rev.number} ({cause})")
        self._resumed[service] = asyncio.Event()
        task = asyncio.get_running_loop().create_task(
            self._run(service, record, progress, after_start), name=f"rollout {service}"
        )
        self.tasks[service] = task
        self.sup.track(task)
        return progress

    @staticmethod
    def _strategy(section: dict[str, Any]) -> RolloutSpec:
        from leapfrog.spec import RolloutSpec

        return RolloutSpec.model_validate(section.get("rollout") or {})

    # -- the rollout ------------------------------------------------------------------------

    async def _run(
        self, service: str, record: RolloutRecord, progress: Progress, after_start: bool
    ) -> None:
        target = record.revision(progress.target)
        assert target is not None
        strategy = self._strategy(target.section)
        try:
            if after_start:
                await self.sup.wait_started(service)
            await self._roll(service, target.section, progress, strategy)
            progress.done()
            target.outcome = "complete"
        except _StepFailed as exc:
            progress.fail(str(exc), strategy.auto_revert)
            self.sup.log_line(f"rollout: {service}: {exc}")
            source = record.revision(progress.source) if progress.source else None
            if progress.phase == "reverting" and source is not None:
                target.outcome = f"failed: {exc} (reverted to revision {source.number})"
                record.current = source.number
                self._save(record)
                try:
                    await self._roll(service, source.section, progress, strategy)
                    progress.done()
                except _StepFailed as again:
                    progress.fail(str(again), revert=False)
            else:
                target.outcome = f"failed: {exc}"
        except asyncio.CancelledError:
            if self.sup.stopping:  # left active: the next supervisor's start closes it
                self._save(record)
                raise
            progress.phase, progress.reason = "failed", "superseded by a newer change"
            progress.finished = time.time()
            target.outcome = "superseded by a newer change"
            self._save(record)
            raise
        for instance in self.sup.units.get(service, []):
            instance.pending = False  # what was not replaced stays on its revision
        self.sup.log_line(f"rollout: {progress.message(service)}")
        self._save(record)
        self.sup.write_state()

    async def _roll(
        self,
        service: str,
        section: dict[str, Any],
        progress: Progress,
        strategy: RolloutSpec,
    ) -> None:
        sup = self.sup
        replicas = sup.plan.units[service].replicas
        number = progress.target if progress.phase != "reverting" else progress.source
        progress.updated = []
        launches = await self._launches(service, section, replicas + strategy.max_surge)
        current = sorted(
            (i for i in sup.units[service] if i.launch.index <= replicas),
            key=lambda i: i.launch.index,
        )
        todo = [i for i in current if _differs(i.launch, launches[i.name])]
        # Instances beyond the count: surge instances of a rollout that did not end. Those
        # already of this revision serve on as this rollout's surge; any other leaves.
        extras = sorted(
            (i for i in sup.units[service] if i.launch.index > replicas),
            key=lambda i: i.launch.index,
        )
        kept = [
            i
            for i in extras
            if i.name in launches and not _differs(i.launch, launches[i.name]) and not i.failure
        ]
        if not todo or not strategy.max_surge or len(kept) != len(extras):
            await self._retire_extras(service, replicas)
            kept = []
        for instance in current:
            if instance not in todo:
                instance.pending = False
                progress.ready(instance.name)
        if progress.resumed:
            # A killed supervisor may have left any of them in maintenance in the catalog
            # (mid-step): those that stay, as they are, serve again.
            for instance in [*kept, *(i for i in current if i not in todo)]:
                await _clear_maintenance(sup, instance.name)
        if not todo:
            return
        for instance in todo:
            instance.pending = True
        registered = await self._registered(service)
        surge: list[Instance] = list(kept)
        if strategy.max_surge and replicas:
            wanted = [
                launches[n]
                for n in sorted(launches, key=lambda n: launches[n].index)
                if launches[n].index > replicas and n not in sup.instances
            ]
            if wanted:
                surge += sup.grow(service, wanted)
            progress.surge = [i.name for i in surge]
            for instance in surge:
                self.on_revision[instance.name] = number or 0
            await self._ready(service, surge, strategy, registered, progress)
            await self._maybe_pause(service, progress, todo, strategy, registered)
        for batch in revisions.batches(
            [i.name for i in todo], strategy.max_surge, strategy.max_unavailable
        ):
            group = [sup.instances[n] for n in batch if n in sup.instances]
            await asyncio.gather(*(self._replace(i, launches[i.name]) for i in group))
            for instance in group:
                self.on_revision[instance.name] = number or 0
            await self._ready(service, group, strategy, registered, progress)
            self._save(self.record(service))
            await self._maybe_pause(service, progress, todo, strategy, registered)
        if surge:
            await sup.retire(service, len(surge), self._out_of_rotation)
            for instance in surge:
                progress.gone(instance.name)
                self.on_revision.pop(instance.name, None)
            progress.surge = []

    async def _retire_extras(self, service: str, replicas: int) -> None:
        extras = [i for i in self.sup.units[service] if i.launch.index > replicas]
        if extras:
            await self.sup.retire(service, len(extras), self._out_of_rotation)
            for instance in extras:
                self.on_revision.pop(instance.name, None)

    async def _launches(
        self, service: str, section: dict[str, Any], count: int
    ) -> dict[str, Launch]:
        """The service's launches 1..count for `section`, with the rest of the stack as the
        stack file the supervisor runs says (every service at its running count, as
        `leapfrog scale` builds them)."""
        from leapfrog.runtime.local.launch import revision_launches
        from leapfrog.spec import SpecError, load_stack

        try:
            stack = load_stack(Path(self.sup.stack_file))
        except SpecError as exc:
            raise _StepFailed(f"{self.sup.stack_file} no longer loads: {exc}") from None
        counts = {name: len(group) for name, group in self.sup.units.items()}
        try:
            built = await asyncio.to_thread(
                revision_launches, stack, self.sup.paths, service, section, count, counts=counts
            )
        except LeapfrogError as exc:
            raise _StepFailed(f"cannot build its instances: {exc.message}") from None
        return {launch.name: launch for launch in built}

    async def _registered(self, service: str) -> bool:
        """Does the catalog know the service's instances (a service on the SDK)? Only
        then do new instances wait for it to say passing."""
        entries = await self._catalog(service)
        return bool(entries)

    async def _catalog(self, service: str) -> list[dict[str, Any]] | None:
        registrar = self.sup.registrar
        if registrar is None:
            return None
        import httpx

        url = f"http://{registrar.address}:{registrar.port}/v1/health/service/{service}"
        headers = {"X-Consul-Token": registrar.token} if registrar.token else {}
        with contextlib.suppress(httpx.HTTPError, ValueError):
            async with httpx.AsyncClient(
                timeout=2.0, headers=headers, verify=plain_http_context()
            ) as client:
                response = await client.get(url)
                if response.status_code == 200:
                    found = response.json()
                    return found if isinstance(found, list) else None
        return None

    async def _ready(
        self,
        service: str,
        group: list[Instance],
        strategy: RolloutSpec,
        registered: bool,
        progress: Progress,
    ) -> None:
        """Until each of `group` passes (its check, and the catalog when `registered`) and
        has for `min_ready`; then the load balancer's settle time. _StepFailed when one
        fails or the deadline passes."""
        deadline = time.monotonic() + strategy.progress_deadline
        since: dict[str, float] = {}
        while True:
            passing = await self._passing(service) if registered else None
            now = time.monotonic()
            for instance in group:
                if instance.failure or instance.state == InstanceState.CRASHLOOP:
                    raise _StepFailed(
                        f"{instance.name} failed: {instance.failure or instance.detail}"
                    )
                ok = instance.state == InstanceState.HEALTHY and (
                    passing is None or instance.name in passing
                )
                if ok:
                    since.setdefault(instance.name, now)
                else:
                    since.pop(instance.name, None)
            if len(since) == len(group) and all(
                now - t >= strategy.min_ready for t in since.values()
            ):
                break
            if now > deadline:
                late = next(
                    i
                    for i in group
                    if now - since.get(i.name, now) < strategy.min_ready or i.name not in since
                )
                why = late.last_check or late.detail
                raise _StepFailed(
                    f"{late.name} not passing within {format_duration(strategy.progress_deadline)}"
                    f" (progress_deadline): {why}"
                )
            await asyncio.sleep(_POLL)
        await asyncio.sleep(LB_SETTLE)  # the load balancer routes to them now
        for instance in group:
            progress.ready(instance.name)
        self.sup.log_line(f"rollout: {progress.message(service)}")

    async def _passing(self, service: str) -> set[str]:
        entries = await self._catalog(service) or []
        passing: set[str] = set()
        for entry in entries:
            sid = str((entry.get("Service") or {}).get("ID", ""))
            checks = entry.get("Checks") or ()
            if all(c.get("Status") == "passing" for c in checks):
                passing.add(sid)
        return passing

    async def _out_of_rotation(self, instance: Instance) -> None:
        # Whatever its state: an instance its own check fails may still be registered
        # (the SDK registers once it serves) and served through the load balancer.
        await maintenance(self.sup, instance, _REASON, any_state=True)

    async def _replace(self, instance: Instance, launch: Launch) -> None:
        """Out of the load balancer, drained and stopped, then started as `launch`."""
        busy = self._busy.get(instance.name)
        if busy is not None:
            await asyncio.shield(busy)

        async def swap() -> None:
            await maintenance(self.sup, instance, _REASON, any_state=True)
            await instance.stop()
            await _clear_maintenance(self.sup, instance.name)
            await instance.replace(launch)

        future = asyncio.ensure_future(swap())
        self._busy[instance.name] = future
        try:
            await asyncio.shield(future)
        finally:
            if future.done():
                self._busy.pop(instance.name, None)

    async def _maybe_pause(
        self,
        service: str,
        progress: Progress,
        todo: list[Instance],
        strategy: RolloutSpec,
        registered: bool,
    ) -> None:
        if not progress.should_pause():
            return
        period = None
        if progress.pause_requested:
            progress.pause("paused by `leapfrog rollout pause`")
        elif strategy.promote_after is not None:
            period = CanaryPeriod(strategy.promote_after)
            progress.pause(
                f"canary: {len(progress.updated)} new instance(s) serving; promoted by "
                f"itself once they have passed for {format_duration(period.length)} "
                f"(promote_after), `leapfrog rollout promote {service}` now, `undo` takes "
                "them back"
            )
        else:
            progress.pause(
                f"canary: {len(progress.updated)} new instance(s) serving; "
                f"`leapfrog rollout resume {service}` continues, `undo` takes them back"
            )
        self.sup.log_line(f"rollout: {progress.message(service)}")
        record = self.record(service)
        self._save(record)
        waiting = [i for i in todo if i.pending]
        for instance in waiting:  # held at the old revision: `up` need not wait for them
            instance.pending = False
        self.sup.write_state()
        event = self._resumed.setdefault(service, asyncio.Event())
        event.clear()
        if period is None:
            await event.wait()
        else:
            await self._canary_period(service, progress, period, registered, event)
        for instance in waiting:
            if self.on_revision.get(instance.name) != progress.target:
                instance.pending = True
        self._save(record)

    async def _canary_period(
        self,
        service: str,
        progress: Progress,
        period: CanaryPeriod,
        registered: bool,
        resumed: asyncio.Event,
    ) -> None:
        """Until the canaries have passed (their check, and the catalog when
        `registered`) for the whole period, then promote; or until resumed by hand.
        _StepFailed when a canary fails meanwhile."""
        while not resumed.is_set():
            if progress.pause_requested:  # `rollout pause` holds it: only resume goes on
                await resumed.wait()
                return
            canaries = [self.sup.instances[n] for n in progress.updated if n in self.sup.instances]
            for instance in canaries:
                if instance.failure or instance.state == InstanceState.CRASHLOOP:
                    raise _StepFailed(
                        f"canary {instance.name} failed: {instance.failure or instance.detail}"
                    )
            passing = await self._passing(service) if registered else None
            healthy = bool(canaries) and all(
                i.state == InstanceState.HEALTHY and (passing is None or i.name in passing)
                for i in canaries
            )
            if period.observe(time.monotonic(), healthy):
                how = f"by itself after {format_duration(period.length)} passing (promote_after)"
                progress.resume(how)
                self.sup.log_line(f"rollout: {service}: canary promoted {how}")
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(resumed.wait(), _POLL)

    # -- operations -------------------------------------------------------------------------

    def service(self, name: str) -> str:
        units = self.sup.plan.units
        if name not in units or units[name].kind != "service":
            known = ", ".join(self._services()) or "none"
            raise LeapfrogError(f"there is no service named {name!r}", hint=f"services: {known}")
        return name

    def status(self, service: str) -> dict[str, Any]:
        record = self.record(self.service(service))
        progress = record.rollout
        instances = [
            {
                "name": i.name,
                "revision": self.on_revision.get(i.name),
                "state": str(i.state),
                "pending": i.pending,
            }
            for i in sorted(self.sup.units.get(service, []), key=lambda i: i.launch.index)
        ]
        body: dict[str, Any] = {
            "service": service,
            "current": record.current,
            "instances": instances,
            "replicas": self.sup.plan.units[service].replicas,
        }
        if progress is None:
            body |= {"phase": "complete", "message": f"{service}: revision {record.current}"}
        else:
            body |= dataclasses.asdict(progress) | {"message": progress.message(service)}
        body["done"] = progress is None or not progress.active or progress.phase == "paused"
        return body

    def history(self, service: str) -> dict[str, Any]:
        record = self.record(self.service(service))
        return {
            "service": service,
            "current": record.current,
            "revisions": [dataclasses.asdict(r) for r in record.revisions],
            "canary": record.canary(),
        }

    def undo(self, service: str, to: int | None) -> dict[str, Any]:
        record = self.record(self.service(service))
        if to is None:
            found = record.previous()
            if found is None:
                raise LeapfrogError(
                    f"{service} has no revision before {record.current}",
                    hint=f"`leapfrog rollout history {service}` lists its revisions",
                )
        else:
            found = record.revision(to)
            if found is None:
                kept = ", ".join(str(r.number) for r in record.revisions) or "none"
                raise LeapfrogError(
                    f"{service} has no revision {to}", hint=f"revisions kept: {kept}"
                )
        if found.number == record.current and not (record.rollout and record.rollout.active):
            return self.status(service) | {"undone": False}
        progress = self.begin(service, dict(found.section), f"undo to revision {found.number}")
        return self.status(service) | {"undone": True, "revision": progress.target}

    def pause(self, service: str) -> dict[str, Any]:
        record = self.record(self.service(service))
        progress = record.rollout
        if progress is None or not progress.active:
            raise LeapfrogError(
                f"{service} has no rollout in progress",
                hint="a rollout starts with `leapfrog up` after a change of the service",
            )
        progress.pause_requested = True
        self._save(record)
        return self.status(service)

    def resume(self, service: str, how: str = "resume") -> dict[str, Any]:
        record = self.record(self.service(service))
        progress = record.rollout
        if progress is None or not progress.active:
            raise LeapfrogError(f"{service} has no rollout in progress")
        progress.resume(f"by `leapfrog rollout {how}`")
        self._save(record)
        self._resumed.setdefault(service, asyncio.Event()).set()
        return self.status(service)


def _differs(old: Launch, new: Launch) -> bool:
    from leapfrog.runtime.local.reconcile import needs_replacing

    return needs_replacing(old, new)


async def _clear_maintenance(sup: Supervisor, name: str) -> None:
    """The instance's maintenance ends with it (a registration left by a killed process
    would keep it, and the new process's registration with it)."""
    registrar = sup.registrar
    if registrar is None:
        return
    import httpx

    url = f"http://{registrar.address}:{registrar.port}/v1/agent/service/maintenance/{name}"
    headers = {"X-Consul-Token": registrar.token} if registrar.token else {}
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=2.0, verify=plain_http_context()) as client:
            await client.put(url, params={"enable": "false"}, headers=headers)


# -- control socket operations ----------------------------------------------------------


async def _op(sup: Supervisor, req: dict[str, Any]) -> dict[str, Any]:
    action = str(req.get("action", ""))
    name = str(req.get("name", ""))
    rollouts = sup.rollouts
    try:
        if action == "status":
            return rollouts.status(name)
        if action == "history":
            return rollouts.history(name)
        if action == "undo":
            to = req.get("to")
            return rollouts.undo(name, int(to) if to is not None else None)
        if action == "pause":
            return rollouts.pause(name)
        if action in ("resume", "promote"):
            return rollouts.resume(name, action)
    except LeapfrogError as exc:
        return {"error": exc.message, "hint": exc.hint}
    return {"error": f"unknown rollout action {action!r}"}


OPS = {"rollout": _op}
