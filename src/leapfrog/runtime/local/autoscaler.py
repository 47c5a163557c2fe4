"""`autoscale:` on one machine: beside the supervisor, every sync period (15 s, the
HPA's; `LEAPFROG_AUTOSCALE_SYNC` changes it) each autoscaled service's healthy instances
are measured and `autoscaling.Autoscaling` decides its count, which `leapfrog scale`'s
own path carries out (new instances behind the load balancer once healthy; leaving ones
out of rotation and drained first).

What is measured, per instance, between two syncs:
- CPU: the instance's process group (`procstats`), as a share of `resources.cpu`, the
  HPA's utilization;
- requests per second and requests in flight: the SDK's `/metrics` page
  (`http_requests_total`, `http_requests_in_flight`).
An instance is measured from its second sync on (a rate needs two readings); one whose
page does not answer is left out, as the HPA leaves out pods without metrics.

Every decision that changes the count is a line in the supervisor's log, an event in the
log stream (`leapfrog.autoscaler`), and, with the last decision of each service, in the
state `leapfrog status` shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leapfrog.runtime.local.autoscaling import Autoscaling, Decision, Reading
from leapfrog.runtime.local.procstats import group_usage
from leapfrog.shared.tls import plain_http_context

if TYPE_CHECKING:
    from leapfrog.runtime.local.instance import Instance
    from leapfrog.runtime.local.supervisor import Supervisor
    from leapfrog.spec import AutoscaleSpec, ServiceSpec

__all__ = ["SYNC_SECONDS", "Autoscaler", "cpu_cores"]

SYNC_SECONDS = 15.0
"""Kubernetes' `--horizontal-pod-autoscaler-sync-period`."""
_PAGE_TIMEOUT = 2.0


def cpu_cores(quantity: str) -> float:
    """A Kubernetes CPU quantity (`250m`, `1`, `0.5`) in cores."""
    if quantity.endswith("m"):
        return float(quantity[:-1]) / 1000
    return float(quantity)


@dataclass
class _Last:
    at: float
    cpu_seconds: float | None = None
    requests: float | None = None


class Autoscaler:
    """Attached to a supervisor (`attach`), started and closed with it."""

    def __init__(self, supervisor: Supervisor, services: dict[str, ServiceSpec]) -> None:
        self.supervisor = supervisor
        self.services = services
        self.scalings = {name: Autoscaling(_spec(service)) for name, service in services.items()}
        self.interval = float(os.environ.get("LEAPFROG_AUTOSCALE_SYNC", "") or SYNC_SECONDS)
        self._last: dict[str, _Last] = {}
        self._task: asyncio.Task[None] | None = None
        self._scaling: dict[str, asyncio.Task[None]] = {}

    @classmethod
    def attach(cls, supervisor: Supervisor, services: dict[str, ServiceSpec]) -> Autoscaler | None:
        scaled = {name: svc for name, svc in services.items() if svc.autoscale is not None}
        if not scaled:
            return None
        autoscaler = cls(supervisor, scaled)
        supervisor.companions.append(autoscaler)
        return autoscaler

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="autoscaler")

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._scaling.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sync()
            except Exception as exc:  # a bad round must not end autoscaling
                self.supervisor.log_line(f"autoscaler: this round failed: {exc!r}")

    # -- one sync -------------------------------------------------------------------------

    async def sync(self) -> None:
        sup = self.supervisor
        if sup.stopping:
            return
        now = time.monotonic()
        roots = frozenset(i.pid for i in sup.instances.values() if i.pid is not None)
        usage = await asyncio.to_thread(group_usage, roots=roots)
        for unit, scaling in self.scalings.items():
            busy = self._scaling.get(unit)
            if busy is not None and not busy.done():
                continue  # the last change is still being carried out
            rolling = sup.rollouts.tasks.get(unit)
            if rolling is not None and not rolling.done():
                continue  # a rollout is replacing its instances: measured again after it
            instances = [i for i in sup.units.get(unit, []) if i.state == "healthy" and i.pid]
            pages = await asyncio.gather(*(self._page(i) for i in instances))
            readings = self._readings(
                unit, spec=scaling.spec, instances=instances, usage=usage, pages=pages, now=now
            )
            decision = scaling.decide(now, len(sup.units.get(unit, [])), readings)
            self._record(unit, decision)
            if decision.changes:
                self._scaling[unit] = asyncio.get_running_loop().create_task(
                    self._carry_out(unit, scaling, decision), name=f"autoscale {unit}"
                )

    def _readings(
        self,
        unit: str,
        *,
        spec: AutoscaleSpec,
        instances: list[Instance],
        usage: dict[int, Any],
        pages: list[dict[str, float] | None],
        now: float,
    ) -> list[Reading]:
        request = cpu_cores(self.services[unit].resources.cpu)
        cpu: list[float] = []
        rate: list[float] = []
        flight: list[float] = []
        for instance, page in zip(instances, pages, strict=True):
            key = f"{instance.name}:{instance.pid}"  # a restarted instance starts afresh
            last = self._last.get(key)
            group = usage.get(instance.pid) if instance.pid is not None else None
            seen = _Last(now, group.cpu_seconds if group else None)
            if page is not None:
                seen.requests = page["requests"]
                flight.append(page["in_flight"])
            if last is not None and now > last.at:
                elapsed = now - last.at
                if seen.cpu_seconds is not None and last.cpu_seconds is not None:
                    used = max(0.0, seen.cpu_seconds - last.cpu_seconds) / elapsed
                    cpu.append(100.0 * used / request)
                if seen.requests is not None and last.requests is not None:
                    rate.append(max(0.0, seen.requests - last.requests) / elapsed)
            self._last[key] = seen
        live = {f"{i.name}:{i.pid}" for group in self.supervisor.units.values() for i in group}
        for gone in [k for k in self._last if k not in live]:
            del self._last[gone]
        readings = []
        if spec.cpu_percent is not None:
            readings.append(Reading("cpu", cpu, spec.cpu_percent, "%"))
        if spec.requests_per_second is not None:
            readings.append(Reading("requests", rate, spec.requests_per_second, "/s"))
        if spec.in_flight is not None:
            readings.append(Reading("in flight", flight, spec.in_flight))
        return readings

    async def _page(self, instance: Instance) -> dict[str, float] | None:
        """The SDK's request counters of one instance; None when it has no page."""
        launch = instance.launch
        if launch.port is None:
            return None
        import httpx

        from leapfrog.telemetry import prometheus_samples

        try:
            plain = plain_http_context()
            async with httpx.AsyncClient(timeout=_PAGE_TIMEOUT, verify=plain) as client:
                response = await client.get(f"http://{launch.address}:{launch.port}/metrics")
            if response.status_code != 200:
                return None
            samples = prometheus_samples(response.text)
        except (httpx.HTTPError, ValueError):
            return None
        totals = [s.value for s in samples if s.name == "http_requests_total"]
        if not totals:
            return None  # not the SDK's page
        flight = [s.value for s in samples if s.name == "http_requests_in_flight"]
        return {"requests": sum(totals), "in_flight": sum(flight)}

    # -- carrying a decision out ----------------------------------------------------------

    def _record(self, unit: str, decision: Decision) -> None:
        sup = self.supervisor
        sup.unit_status[unit] = {
            "autoscale": {
                "current": decision.current,
                "desired": decision.desired,
                "reason": decision.reason,
                "at": time.time(),
            }
        }
        if decision.changes:
            text = f"autoscale {unit}: {decision.current} -> {decision.desired}: {decision.reason}"
            sup.log_line(text)
            sup.emit(
                {
                    "level": "info",
                    "logger": "leapfrog.autoscaler",
                    "message": text,
                    "unit": unit,
                    "from": decision.current,
                    "to": decision.desired,
                    "reason": decision.reason,
                }
            )
        sup.write_state()

    async def _carry_out(self, unit: str, scaling: Autoscaling, decision: Decision) -> None:
        from leapfrog.runtime.local.scaling import scale

        try:
            await scale(self.supervisor, {unit: str(decision.desired)})
        except Exception as exc:  # reported, tried again at a later sync
            self.supervisor.log_line(f"autoscale {unit}: not carried out: {exc}")
            return
        scaling.scaled(time.monotonic(), decision.current, decision.desired)


def _spec(service: ServiceSpec) -> AutoscaleSpec:
    assert service.autoscale is not None
    return service.autoscale
