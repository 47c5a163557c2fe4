"""/v1/health/* and /v1/catalog/*: blocking reads of services, checks and the node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from leapfrog.catalog._api import Call, Reply, Route, go_bool
from leapfrog.catalog._body import BadRequest
from leapfrog.catalog._filter import compile_filter
from leapfrog.catalog._index import CHECKS, NODE, NODES, SERVICES, service_topic
from leapfrog.catalog._model import Check, Service
from leapfrog.catalog._render import (
    catalog_service,
    check_json,
    health_service,
    node_json,
    node_meta,
)
from leapfrog.catalog._store import Store

__all__ = ["read_routes"]

_STATES = ("any", "passing", "warning", "critical")
_MAX_REMEMBERED = 4096
"""Names whose topics a query remembers (then it starts over)."""


@dataclass
class _Query:
    topics: Callable[[Call], tuple[str, ...]]
    build: Callable[[Call], Any]
    store: Store
    named: bool = True
    """The path ends with a name (service, node, state) that must not be empty."""
    _topics_of: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def validate(self, call: Call) -> None:
        if self.named and not call.rest:
            raise BadRequest(
                "Missing service name" if "/service" in call.request.path else "Missing name"
            )
        _passing(call)
        compile_filter(call.params.get("filter"))
        if call.request.path.startswith("/v1/health/state/") and call.rest not in _STATES:
            raise BadRequest("Invalid check state")

    def watch(self, call: Call) -> tuple[tuple[str, ...], str | None]:
        return self.topics(call), None

    def index(self, call: Call) -> int:
        # A change wakes every watcher of a service, and each asks its index again: the
        # topics of a name are worked out once (they depend on the path's name only).
        topics = self._topics_of.get(call.rest)
        if topics is None:
            if len(self._topics_of) >= _MAX_REMEMBERED:
                self._topics_of.clear()
            topics = self._topics_of[call.rest] = self.topics(call)
        return self.store.log.of(*topics)

    def reply(self, call: Call) -> Reply:
        return Reply(self.build(call))


def _filter(call: Call, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    predicate = compile_filter(call.params.get("filter"))
    return items if predicate is None else [i for i in items if predicate(i)]


def _passing(call: Call) -> bool:
    raw = call.params.get("passing")
    if raw is None:
        return False
    if raw == "":
        return True
    value = go_bool(raw)
    if value is None:
        raise BadRequest("Invalid value for ?passing")
    return value


def _node_meta_ok(store: Store, call: Call) -> bool:
    meta = node_meta(store)
    for pair in call.values("node-meta"):
        key, _, value = pair.partition(":")
        if meta.get(key) != value:
            return False
    return True


def _tagged(call: Call, svc: Service) -> bool:
    wanted = call.values("tag")
    if not wanted:
        return True
    have = {t.lower() for t in svc.tags}
    return all(t.lower() in have for t in wanted)


def read_routes(store: Store) -> list[Route]:
    def svc_topic(call: Call) -> tuple[str, ...]:
        return (service_topic(call.rest),)

    def instances(call: Call) -> list[Service]:
        if not _node_meta_ok(store, call):
            return []
        return [s for s in store.instances(call.rest) if _tagged(call, s)]

    def health_service_build(call: Call) -> list[dict[str, Any]]:
        passing = _passing(call)
        node = node_json(store)
        node_checks = store.node_checks()
        entries = []
        for svc in instances(call):
            checks: list[Check] = node_checks + store.service_checks(svc.id)
            if passing and any(c.status != "passing" for c in checks):
                continue
            entries.append(
                {
                    "Node": node,
                    "Service": health_service(svc),
                    "Checks": [check_json(store, c) for c in checks],
                }
            )
        return _filter(call, entries)

    def health_checks_build(call: Call) -> list[dict[str, Any]]:
        items = [check_json(store, c) for s in instances(call) for c in store.service_checks(s.id)]
        return _filter(call, items)

    def health_state_build(call: Call) -> list[dict[str, Any]]:
        state = call.rest
        if not _node_meta_ok(store, call):
            return []
        checks = sorted(store.checks.values(), key=lambda c: (c.service_id, c.id))
        items = [check_json(store, c) for c in checks if state in ("any", c.status)]
        return _filter(call, items)

    def health_node_build(call: Call) -> list[dict[str, Any]]:
        if call.rest.lower() != store.node_name.lower():
            return []
        checks = sorted(store.checks.values(), key=lambda c: (c.service_id, c.id))
        return _filter(call, [check_json(store, c) for c in checks])

    def catalog_services_build(call: Call) -> dict[str, list[str]]:
        if not _node_meta_ok(store, call):
            return {}
        found: dict[str, list[str]] = {}
        for svc in sorted(store.services.values(), key=lambda s: s.name):
            found.setdefault(svc.name, []).extend(svc.tags)
        # Consul's order of tags is that of a Go map (random); sorted is stable.
        return {name: sorted(set(tags)) for name, tags in found.items()}

    def catalog_service_build(call: Call) -> list[dict[str, Any]]:
        return _filter(call, [catalog_service(store, s) for s in instances(call)])

    def catalog_nodes_build(call: Call) -> list[dict[str, Any]]:
        return _filter(call, [node_json(store)] if _node_meta_ok(store, call) else [])

    def catalog_node_build(call: Call) -> dict[str, Any] | None:
        if call.rest.lower() != store.node_name.lower():
            return None
        services = {s.id: health_service(s) for s in store.services.values()}
        return {"Node": node_json(store), "Services": services}

    def q(
        topics: Callable[[Call], tuple[str, ...]], build: Callable[[Call], Any], named: bool = True
    ) -> _Query:
        return _Query(topics, build, store, named)

    def const(*topics: str) -> Callable[[Call], tuple[str, ...]]:
        return lambda call: topics

    async def datacenters(call: Call) -> Reply:
        return Reply([store.datacenter])

    async def leader(call: Call) -> Reply:
        return Reply(f"{store.node_address}:8300")

    async def peers(call: Call) -> Reply:
        return Reply([f"{store.node_address}:8300"])

    get = ("GET",)
    return [
        Route(get, "/v1/health/service/", True, query=q(svc_topic, health_service_build)),
        Route(get, "/v1/health/checks/", True, query=q(svc_topic, health_checks_build)),
        # No service here is connect-capable or an ingress gateway: Consul answers [].
        Route(get, "/v1/health/connect/", True, query=q(svc_topic, lambda call: [])),
        Route(get, "/v1/health/ingress/", True, query=q(svc_topic, lambda call: [])),
        Route(get, "/v1/health/state/", True, query=q(const(CHECKS), health_state_build)),
        Route(get, "/v1/health/node/", True, query=q(const(NODE), health_node_build)),
        Route(get, "/v1/catalog/services", query=q(const(SERVICES), catalog_services_build, False)),
        Route(get, "/v1/catalog/service/", True, query=q(svc_topic, catalog_service_build)),
        Route(get, "/v1/catalog/nodes", query=q(const(NODES), catalog_nodes_build, False)),
        Route(get, "/v1/catalog/node/", True, query=q(const(NODE), catalog_node_build)),
        Route(get, "/v1/catalog/datacenters", action=datacenters),
        Route(get, "/v1/status/leader", action=leader),
        Route(get, "/v1/status/peers", action=peers),
    ]
