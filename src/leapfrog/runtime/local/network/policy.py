"""Who may open connections to whom, from the stack file: the firewall's input.

* a service reaches another service's port only when it is among its callers
  (`callers:`, or else the services that depend on it and its `allow_from`);
* services use the platform parts (every service depends on every component, as the
  plan says) and the catalog: they reach the components' instances and the catalog's
  HTTP and DNS endpoints;
* platform parts reach each other (Kafka and ZooKeeper, a pipeline and Kafka);
* programs in the host's network (the catalog, the load balancer, leapfrog's own
  components, health checks) reach everything: they are not in this policy at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from leapfrog.runtime.local.network.base import Flow, HostFlow, Policy
from leapfrog.spec import ServiceSpec, callers_of

__all__ = ["Member", "build_policy"]


@dataclass(frozen=True)
class Member:
    """One instance as the firewall sees it."""

    name: str
    unit: str
    kind: str
    """service, component or catalog"""
    address: str
    port: int | None
    isolated: bool
    """In its own network namespace (else in the host's network)."""


def _endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def build_policy(
    services: Mapping[str, ServiceSpec],
    members: Iterable[Member],
    catalog: tuple[str, str] | None,
) -> Policy:
    """`catalog`: its HTTP and DNS `address:port` when it runs."""
    isolated = [m for m in members if m.isolated]
    by_unit: dict[str, list[Member]] = {}
    for member in isolated:
        by_unit.setdefault(member.unit, []).append(member)
    flows: list[Flow] = []
    parts = [m for m in isolated if m.kind == "component"]
    for name in services:
        targets = by_unit.get(name, [])
        for caller in callers_of(services, name):
            for source in by_unit.get(caller, []):
                flows += [
                    Flow(source.address, t.address, t.port, f"{caller} -> {name}")
                    for t in targets
                    if t.port is not None
                ]
        for source in targets:
            flows += [Flow(source.address, p.address, None, f"{name} -> {p.unit}") for p in parts]
    for source in parts:
        flows += [
            Flow(source.address, p.address, None, f"{source.unit} -> {p.unit}")
            for p in parts
            if p.address != source.address
        ]
    to_host: list[HostFlow] = []
    resolver: list[HostFlow] = []
    if catalog is not None:
        http, dns = _endpoint(catalog[0]), _endpoint(catalog[1])
        for source in isolated:
            if source.kind != "service":
                continue
            why = f"{source.unit} -> catalog"
            to_host.append(HostFlow(source.address, http[0], http[1], "tcp", why))
            asks = [HostFlow(source.address, dns[0], dns[1], p, why) for p in ("udp", "tcp")]
            to_host += asks
            # Whatever resolver its resolv.conf names: the catalog answers (and forwards
            # other names to its recursors).
            resolver += asks
    return Policy(
        flows=tuple(sorted(set(flows))),
        to_host=tuple(sorted(set(to_host))),
        resolver=tuple(sorted(set(resolver))),
    )
