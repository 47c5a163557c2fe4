"""`leapfrog scale NAME=N`: more or fewer instances of a running service, no request lost.

New instances are built from the stack file the supervisor runs (with every service at
its running count, so their `<DEP>_ENDPOINTS` and addresses are what runs), get their
own addresses from the address book, and start as at first start; the SDK registers
each in the catalog once it serves, and the load balancer follows.

Leaving instances are the highest numbered. None leaves the load balancer before the
staying ones pass their checks in the catalog (`_staying_pass`, bounded by `STAY_WAIT`):
an instance that a loaded machine made miss a check is not left alone to carry the load.
Each is then put in maintenance in the catalog, which takes it out of the load
balancer's serving set; after the balancer has
had time to apply that (`LB_SETTLE`) it gets its stop signal, and the SDK's drain lets
requests already on it finish. A `leapfrog up` afterwards brings every service back to
its `replicas:` in the stack file, as `kubectl apply` after `kubectl scale` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.tls import plain_http_context

if TYPE_CHECKING:
    from leapfrog.runtime.local.instance import Instance
    from leapfrog.runtime.local.supervisor import Supervisor

__all__ = [
    "LB_SETTLE",
    "STAY_WAIT",
    "maintenance",
    "not_passing",
    "parse_target",
    "scale",
]

LB_SETTLE = 1.0
"""Seconds between an instance's maintenance in the catalog and its stop signal: the load
balancer's blocking query answers at once and HAProxy's runtime API applies in
milliseconds, so this is a wide margin on a loaded machine."""
STAY_WAIT = 30.0
"""Seconds scale-down waits for the staying instances to pass before taking the leaving
ones out anyway (the load balancer still sends to a critical instance when no instance
passes, so even then requests are served)."""
_MAX = 250
_TARGET = re.compile(r"^([+-]?)(\d+)$")


def parse_target(current: int, text: str) -> int:
    """`N`, `+K` or `-K` against `current`; LeapfrogError when out of 0..250."""
    match = _TARGET.match(text.strip())
    if match is None:
        raise LeapfrogError(
            f"{text!r} is not a count", hint="write NAME=N, NAME=+K or NAME=-K (e.g. web=4)"
        )
    sign, number = match.group(1), int(match.group(2))
    target = current + number if sign == "+" else current - number if sign == "-" else number
    if not 0 <= target <= _MAX:
        raise LeapfrogError(
            f"{text} would make {target} instance(s)", hint=f"a service runs 0 to {_MAX}"
        )
    return target


async def scale(sup: Supervisor, wanted: dict[str, str]) -> dict[str, Any]:
    """Start and retire instances; answers per unit `from`, `to`, `start`, `stop` and
    `stale` (running instances whose launch the stack file has changed since)."""
    from leapfrog.plan import build_plan
    from leapfrog.runtime.local.isolation import enforce_network
    from leapfrog.runtime.local.launch import build_launches
    from leapfrog.spec import SpecError, load_stack

    sup.log_line(f"scale: asked for {wanted}")
    targets: dict[str, int] = {}
    for unit, text in wanted.items():
        planned = sup.plan.units.get(unit)
        if planned is None:
            known = ", ".join(n for n in sup.plan.order if sup.plan.units[n].kind == "service")
            raise LeapfrogError(
                f"there is no service named {unit!r}", hint=f"services: {known or 'none'}"
            )
        if planned.kind != "service":
            raise LeapfrogError(
                f"{unit} is a {planned.kind}, not a service; only services scale",
                hint="a component's instances are set by its options in the stack file",
            )
        targets[unit] = parse_target(len(sup.units[unit]), text)
    try:
        stack = load_stack(Path(sup.stack_file))
    except SpecError as exc:
        raise LeapfrogError(
            f"{sup.stack_file} no longer loads: {exc}", hint="`leapfrog validate` shows where"
        ) from None
    missing = [u for u in targets if u not in stack.spec.services]
    if missing:
        raise LeapfrogError(
            f"{', '.join(missing)} is no longer in {sup.stack_file}",
            hint="`leapfrog up` applies the stack file",
        )
    counts = {
        name: targets.get(name, len(sup.units[name]))
        for name in stack.spec.services
        if name in sup.units
    }
    services = {
        name: svc.model_copy(update={"replicas": counts.get(name, svc.replicas)})
        for name, svc in stack.spec.services.items()
    }
    stack = dataclasses.replace(stack, spec=stack.spec.model_copy(update={"services": services}))
    plan = build_plan(stack)
    launches = await asyncio.to_thread(build_launches, stack, plan, sup.paths)
    # New replicas' addresses among the allowed callers and callees before they start.
    await asyncio.to_thread(enforce_network, stack, launches, sup.paths)
    answer: dict[str, Any] = {}
    retiring: list[asyncio.Task[None]] = []
    for unit, target in targets.items():
        current = sup.units[unit]
        built = {launch.name: launch for launch in launches[unit]}
        stale = [i.name for i in current if i.name in built and _changed(i, built[i.name])]
        entry: dict[str, Any] = {"from": len(current), "to": target, "stale": stale}
        if target > len(current):
            fresh = [launch for launch in launches[unit] if launch.name not in sup.instances]
            entry["start"] = [i.name for i in sup.grow(unit, fresh)]
        elif target < len(current):
            ordered = sorted(current, key=lambda i: i.launch.index)
            leaving, staying = ordered[target:], ordered[:target]
            entry["stop"] = [i.name for i in leaving]
            gate = asyncio.ensure_future(_staying_pass(sup, unit, [i.name for i in staying]))

            async def out_of_rotation(
                instance: Instance, gate: asyncio.Future[None] = gate
            ) -> None:
                await asyncio.shield(gate)
                await maintenance(sup, instance)

            retiring.append(sup.retire(unit, len(current) - target, out_of_rotation))
        sup.plan = dataclasses.replace(
            sup.plan,
            units={**sup.plan.units, unit: plan.units[unit]},
        )
        answer[unit] = entry
    sup.log_line(f"scale: {answer}")
    if retiring:
        await asyncio.gather(*retiring)
    return {"scaled": answer}


def _changed(instance: Instance, built: Any) -> bool:
    return bool(instance.launch.config_hash != built.config_hash)


async def _staying_pass(sup: Supervisor, unit: str, staying: list[str]) -> None:
    """Return once every staying instance the catalog knows passes its checks (at once
    when there is no catalog, or it knows none of them: a service not on the SDK), or
    after STAY_WAIT."""
    registrar = sup.registrar
    if registrar is None or not staying:
        return
    import httpx

    url = f"http://{registrar.address}:{registrar.port}/v1/health/service/{unit}"
    headers = {"X-Consul-Token": registrar.token} if registrar.token else {}
    deadline = time.monotonic() + STAY_WAIT
    waiting: list[str] = []
    async with httpx.AsyncClient(
        timeout=2.0, headers=headers, verify=plain_http_context()
    ) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                response = await client.get(url)
                if response.status_code == 200:
                    waiting = not_passing(response.json(), staying)
                    if not waiting:
                        return
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    sup.log_line(
        f"scale: {', '.join(waiting) or 'the catalog'} not passing after {STAY_WAIT:.0f}s; "
        "taking the leaving instances out anyway"
    )


def not_passing(entries: Any, staying: list[str]) -> list[str]:
    """Of `staying`, the instances /v1/health/service lists with a check not passing (in
    the order given); those it does not list are not waited for."""
    listed: dict[str, bool] = {}
    for entry in entries or ():
        sid = str((entry.get("Service") or {}).get("ID", ""))
        checks = entry.get("Checks") or ()
        listed[sid] = all(c.get("Status") == "passing" for c in checks)
    return [name for name in staying if name in listed and not listed[name]]


async def maintenance(
    sup: Supervisor,
    instance: Instance,
    reason: str = "leapfrog scale: leaving",
    *,
    any_state: bool = False,
) -> None:
    """Out of the load balancer before the stop signal: maintenance in the catalog makes
    the instance's health critical, so it leaves every passing set. Best effort: with no
    catalog (or one that does not answer) the SDK's own drain still covers in-flight
    requests."""
    registrar = sup.registrar
    if registrar is None or instance.launch.kind != "service":
        return
    if instance.state != "healthy" and not any_state:
        return
    import httpx

    url = (
        f"http://{registrar.address}:{registrar.port}/v1/agent/service/maintenance/{instance.name}"
    )
    headers = {"X-Consul-Token": registrar.token} if registrar.token else {}
    params = {"enable": "true", "reason": reason}
    status = 0
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=2.0, verify=plain_http_context()) as client:
            status = (await client.put(url, params=params, headers=headers)).status_code
    sup.log_line(f"{instance.name}: maintenance in the catalog ({status or 'no answer'})")
    if status == 200:
        await asyncio.sleep(LB_SETTLE)
