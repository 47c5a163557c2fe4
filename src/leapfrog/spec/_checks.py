"""Checks across the whole stack that no single model can make on its own.

Names become host names, directories and Kubernetes objects, and the dependency graph
decides start order; a mistake here would surface much later as a confusing runtime
failure, so it is caught while the line that causes it is still known.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from leapfrog.components.base import ComponentOptions
from leapfrog.spec._messages import MAX_HINTED, close_match_hint, translate
from leapfrog.spec._volumes import check_volumes
from leapfrog.spec._yamlnodes import Locator
from leapfrog.spec.errors import Problem
from leapfrog.spec.models import NAME_PATTERN, StackSpec

__all__ = ["check_stack", "sanitise_name"]

_NAME = re.compile(NAME_PATTERN)
_MAX_CYCLES = 20
"""Cycles reported; each one is written out in full, and a graph can have very many."""


def sanitise_name(text: str) -> str:
    """The nearest valid name, or "" when nothing usable is left."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower().replace("_", "-"))
    name = re.sub(r"-{2,}", "-", name)
    name = re.sub(r"^[^a-z]+", "", name)
    return name[:40].rstrip("-")


def check_stack(
    spec: StackSpec,
    options: Mapping[str, Any],
    components: Mapping[str, type[BaseModel]],
    locator: Locator,
) -> list[Problem]:
    """Problems of names, dependencies and components; `options` is the raw components data."""
    problems = _names(spec, components, locator)
    problems += _dependencies(spec, locator)
    problems += _callers(spec, locator)
    problems += _identity(spec, locator)
    problems += check_volumes(spec, locator)
    valid = {k: v for k, v in options.items() if _NAME.match(k)}  # the others are reported
    problems += _components(valid, components, locator)
    if not problems:
        problems += _endpoints(spec, valid, components, locator)
    return problems


def _names(
    spec: StackSpec, known: Mapping[str, type[BaseModel]], locator: Locator
) -> list[Problem]:
    problems = []
    for section, names in (("services", spec.services), ("components", spec.components)):
        for name in names:
            if _NAME.match(name):
                continue
            message = (
                f"`{name}` is not a valid name: use lower-case letters, digits and '-', "
                "starting with a letter (at most 40)"
            )
            better = sanitise_name(name)
            hint = f"rename it to `{better}`" if better else "rename it, such as `web`"
            if section == "components":  # a component's name is its kind: suggest a real one
                close = close_match_hint(name, sorted(known), "components")
                hint = close if close.startswith("did") else hint
            problems.append(locator.problem((section, name), message, hint))
    for name in spec.services:
        if name in spec.components:
            line = locator.problem(("services", name), "").line
            message = f"`{name}` is both a component and a service (line {line})"
            problems.append(locator.problem(("components", name), message, "rename the service"))
    if "catalog" in spec.services:
        message = "`catalog` is the name of the stack's service catalog"
        problems.append(locator.problem(("services", "catalog"), message, "rename the service"))
    return problems


def _dependencies(spec: StackSpec, locator: Locator) -> list[Problem]:
    units = sorted(
        {*spec.services, *spec.components, *(["catalog"] if spec.catalog.enabled else [])}
    )
    known = set(units)
    problems = []
    unknown = 0
    for name, service in spec.services.items():
        for target in service.depends_on:
            at = ("services", name, "depends_on", target)
            if target == name:
                problems.append(
                    locator.problem(at, f"`{name}` depends on itself", "remove this entry")
                )
            elif target not in known:
                message = f"`{target}` is not a service or component of this stack"
                hint = "define it under `services:` or `components:`"
                unknown += 1
                if unknown <= MAX_HINTED:
                    others = [u for u in units if u != name]
                    close = close_match_hint(target, others, "services and components")
                    hint = hint if close.startswith("there are no") else close
                problems.append(locator.problem(at, message, hint))
    for cycle in _cycles(spec):
        at = ("services", cycle[0], "depends_on", cycle[1])
        message = f"dependency cycle: {' -> '.join(cycle)}"
        hint = "remove one of these dependencies; the services could never start"
        problems.append(locator.problem(at, message, hint))
    return problems


def _callers(spec: StackSpec, locator: Locator) -> list[Problem]:
    """Each name in a service's `callers:` is another service of the stack."""
    problems = []
    services = sorted(spec.services)
    for name, service in spec.services.items():
        for index, caller in enumerate(service.callers or []):
            at = ("services", name, "callers", index)
            if caller == name:
                message = f"`{name}` lists itself as a caller"
                problems.append(locator.problem(at, message, "remove this entry"))
            elif caller not in spec.services:
                where = "a component" if caller in spec.components else "not a service"
                message = f"`{caller}` in the callers of `{name}` is {where} of this stack"
                others = [s for s in services if s != name]
                close = close_match_hint(caller, others, "services")
                hint = (
                    close
                    if close.startswith("did")
                    else "callers are services under `services:`: "
                    + (", ".join(others) or "there are no others")
                )
                problems.append(locator.problem(at, message, hint))
    return problems


def _identity(spec: StackSpec, locator: Locator) -> list[Problem]:
    """Service identity needs the catalog: its CA signs the certificates and its
    intentions decide."""
    if not spec.identity_on or spec.catalog.enabled:
        return []
    message = (
        "service identity needs the catalog (its CA issues the certificates, its "
        "intentions decide who may call whom), and `catalog.enabled` is false"
    )
    hint = "remove `enabled: false` from `catalog:`, or set `identity: {mtls: false}`"
    return [locator.problem(("identity",), message, hint)]


def _cycles(spec: StackSpec) -> list[list[str]]:
    """The cycles a depth-first walk meets, each written from its earliest service in the file."""
    graph = {
        name: [t for t in svc.depends_on if t in spec.services and t != name]
        for name, svc in spec.services.items()
    }
    order = {name: i for i, name in enumerate(graph)}
    done: set[str] = set()
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    met = 0  # back edges met: each costs the length of its cycle, so only so many are written
    for root, targets in graph.items():
        if root in done:
            continue
        trail = [root]
        on_trail = {root: 0}  # the trail's positions, so a lookup does not scan it
        pending = [iter(targets)]
        while pending:  # iterative: a long chain of services must not hit the recursion limit
            nxt = next(pending[-1], None)
            if nxt is None:
                left = trail.pop()
                del on_trail[left]
                done.add(left)
                pending.pop()
            elif nxt in on_trail:
                met += 1
                if met > _MAX_CYCLES:
                    continue
                cycle = trail[on_trail[nxt] :]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    start = cycle.index(min(cycle, key=order.__getitem__))
                    rotated = cycle[start:] + cycle[:start]
                    found.append([*rotated, rotated[0]])
            elif nxt not in done:
                on_trail[nxt] = len(trail)
                trail.append(nxt)
                pending.append(iter(graph[nxt]))
    return found


def _components(
    options: Mapping[str, Any], known: Mapping[str, type[BaseModel]], locator: Locator
) -> list[Problem]:
    problems: list[Problem] = []
    for name, values in options.items():
        model = known.get(name)
        if model is None:
            if known:
                hint = close_match_hint(name, sorted(known), "components")
            else:
                hint = "no components are available yet in this version of leapfrog"
            problems.append(
                locator.problem(("components", name), f"unknown component `{name}`", hint)
            )
            continue
        try:
            model.model_validate(values)
        except ValidationError as exc:
            problems += translate(exc.errors(), model, ("components", name), locator)
    return problems


def _endpoints(
    spec: StackSpec,
    options: Mapping[str, Any],
    components: Mapping[str, type[BaseModel]],
    locator: Locator,
) -> list[Problem]:
    """Two listeners on one address and port: the second could never start."""
    taken: dict[tuple[str, int], tuple[str, ...]] = {}
    wanted: list[tuple[tuple[str, ...], str]] = []
    if spec.catalog.enabled:
        wanted += [(("catalog", "http"), spec.catalog.http), (("catalog", "dns"), spec.catalog.dns)]
    for kind, values in options.items():
        model = components.get(kind)
        if isinstance(model, type) and issubclass(model, ComponentOptions):
            validated = model.model_validate(values)
            wanted += [(("components", kind, f), e) for f, e in validated.endpoints().items()]
    problems = []
    for at, endpoint in wanted:
        host, _, port = endpoint.rpartition(":")
        key = ("127.0.0.1" if host == "localhost" else host, int(port))
        first = taken.setdefault(key, at)
        if first == at:
            continue
        blamed, other = at, first
        if at not in locator.spots and first in locator.spots:
            blamed, other = first, at  # blame the one written, not a default
        spot = locator.spots.get(other)
        where = f" (line {spot.key.line})" if spot else " (its default)"
        message = f"{endpoint} is also `{'.'.join(other)}`{where}"
        hint = "give each listener its own address or port"
        problems.append(locator.problem(blamed, message, hint, at_value=True))
    return problems
