"""From a validated stack to units: what runs, how many instances, and in which order.

A unit is one service or component; an instance is one process of it. The plan is
pure data, the same for the local runtime and for rendering to Kubernetes.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from leapfrog.components import component
from leapfrog.spec import CheckSpec, RestartSpec, ServiceSpec, Stack

__all__ = ["Plan", "Unit", "build_plan", "instance_name"]

Condition = Literal["started", "healthy"]


def instance_name(unit: str, index: int) -> str:
    return f"{unit}-{index}"


@dataclass(frozen=True)
class Unit:
    name: str
    kind: Literal["service", "component", "catalog"]
    service: ServiceSpec
    """For components and the catalog: what leapfrog runs, in the shape of a service."""
    depends_on: Mapping[str, Condition]
    options: Mapping[str, Any] = field(default_factory=dict)
    """A component's options as written in the stack file."""

    @property
    def replicas(self) -> int:
        return self.service.replicas

    def instance_names(self) -> list[str]:
        return [instance_name(self.name, i) for i in range(1, self.replicas + 1)]


@dataclass(frozen=True)
class Plan:
    stack_name: str
    units: Mapping[str, Unit]
    order: tuple[str, ...]
    """Units in an order where each comes after everything it depends on."""
    _dependents: Mapping[str, tuple[str, ...]] = field(repr=False)
    _readers: tuple[str, ...] = field(default=(), repr=False)
    """Components that read the others (`uses_catalog`: the pipelines, Flink, the lb...)."""

    def dependents(self, name: str) -> tuple[str, ...]:
        """Units that depend on `name` directly."""
        return self._dependents.get(name, ())

    def stopped_before(self, name: str) -> tuple[str, ...]:
        """Units that stop before `name` does: those that depend on it and, when it is a
        component the others read (Kafka, a store), the components that read them, so a
        pipeline commits what it wrote and Flink takes its jobs' savepoints (through Kafka)
        while what they use is still up. Components start side by side all the same."""
        unit = self.units.get(name)
        readers: tuple[str, ...] = ()
        if unit is not None and unit.kind == "component" and name not in self._readers:
            readers = self._readers
        return tuple(dict.fromkeys((*self.dependents(name), *readers)))

    def levels(self) -> list[list[str]]:
        """Groups of units that can start together, each group after the ones before it."""
        depth: dict[str, int] = {}
        for name in self.order:
            deps = self.units[name].depends_on
            depth[name] = 1 + max((depth[d] for d in deps), default=-1)
        grouped: dict[int, list[str]] = {}
        for name, level in depth.items():
            grouped.setdefault(level, []).append(name)
        return [sorted(grouped[level]) for level in sorted(grouped)]


def build_plan(stack: Stack) -> Plan:
    """Units of the stack in dependency order. The spec layer has already rejected cycles."""
    units: dict[str, Unit] = {}
    platform: dict[str, Condition] = {}
    catalog = stack.spec.catalog
    if catalog.enabled:
        units["catalog"] = Unit("catalog", "catalog", _catalog_service(stack), depends_on={})
        platform["catalog"] = "healthy"
    for kind, options in stack.spec.components.items():
        units[kind] = Unit(kind, "component", _component_service(kind, options), {}, options)
        platform[kind] = "healthy"
    for name, svc in stack.spec.services.items():
        # Every service may use every platform part through its environment, so it
        # waits for them all unless it says otherwise.
        deps = dict(platform) | {dep: spec.condition for dep, spec in svc.depends_on.items()}
        units[name] = Unit(name=name, kind="service", service=svc, depends_on=deps)
    sorter = graphlib.TopologicalSorter(
        {n: set(u.depends_on) & set(units) for n, u in units.items()}
    )
    order = tuple(sorter.static_order())
    dependents: dict[str, list[str]] = {}
    for name, unit in units.items():
        for dep in unit.depends_on:
            dependents.setdefault(dep, []).append(name)
    readers = tuple(
        sorted(
            name
            for name, unit in units.items()
            if unit.kind == "component" and getattr(component(name), "uses_catalog", False)
        )
    )
    return Plan(
        stack_name=stack.name,
        units=units,
        order=order,
        _dependents={k: tuple(sorted(v)) for k, v in dependents.items()},
        _readers=readers,
    )


def _catalog_service(stack: Stack) -> ServiceSpec:
    port = int(stack.spec.catalog.http.rpartition(":")[2])
    return ServiceSpec(
        command=["leapfrog", "catalog", "serve"],
        port=port,
        check=CheckSpec(http="/v1/status/leader", interval=2.0, start_timeout=30.0),
        restart=RestartSpec(policy="always"),
        stop_grace_period=10.0,
    )


def _component_service(kind: str, options: Mapping[str, Any]) -> ServiceSpec:
    """The runtime asks the component for argv and health; these are the shape and timing."""
    comp = component(kind)
    port = comp.port(comp.options(options))
    return ServiceSpec(
        command=[kind],
        port=port,
        check=CheckSpec(tcp=True, interval=5.0, timeout=5.0, start_timeout=180.0),
        restart=RestartSpec(policy="always"),
        stop_grace_period=30.0,
    )
