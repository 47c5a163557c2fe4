"""/v1/agent/health/service/{name,id}/<x> (load balancers' view of a service's health) and
/v1/agent/service/<id> with its ContentHash and hash-based blocking.

The aggregated status is the worst of the service's checks and the node's own checks
(`serfHealth` aside: it is not an agent check in Consul); a maintenance check makes it
`maintenance`. Status codes: 200 passing, 429 warning, 503 critical or maintenance,
404 unknown; Consul answers JSON on every one of them, or the bare status with
`?format=text`.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from leapfrog.catalog._agent_routes import NODE_MAINTENANCE
from leapfrog.catalog._api import Call, Reply, Route, blocking_params
from leapfrog.catalog._body import BadRequest
from leapfrog.catalog._index import SERVICES, service_topic
from leapfrog.catalog._model import Check, Service
from leapfrog.catalog._render import agent_health_check, agent_service
from leapfrog.catalog._store import SERF_CHECK, Store

__all__ = ["agent_health_routes", "aggregated_status", "content_hash"]

_CODES = {"passing": 200, "warning": 429, "critical": 503, "maintenance": 503}
_RANK = {"passing": 0, "warning": 1, "critical": 2, "maintenance": 3}
_JSON = "application/json"


def aggregated_status(checks: list[Check]) -> str:
    """Consul's HealthChecks.AggregatedStatus: maintenance, else the worst status."""
    if any(c.id == NODE_MAINTENANCE or c.id.startswith("_service_maintenance:") for c in checks):
        return "maintenance"
    return max((c.status for c in checks), key=_RANK.__getitem__, default="passing")


def content_hash(rendered: dict[str, Any]) -> str:
    """A stable digest of a service as rendered (Consul's is 16 hex digits too)."""
    encoded = json.dumps(rendered, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def _agent_checks(store: Store, svc: Service) -> list[Check]:
    node_checks = [c for c in store.node_checks() if c.id != SERF_CHECK]
    return node_checks + store.service_checks(svc.id)


def _info(store: Store, svc: Service) -> tuple[str, dict[str, Any]]:
    checks = _agent_checks(store, svc)
    status = aggregated_status(checks)
    info = {
        "AggregatedStatus": status,
        "Service": agent_service(store, svc),
        "Checks": [agent_health_check(store, c) for c in checks],
    }
    return status, info


def _answer(call: Call, status: int, text: str, data: Any) -> Reply:
    # Consul names the status (or what was not found) in X-Consul-Reason too.
    headers = [("X-Consul-Reason", text)]
    if call.params.get("format") == "text":
        return Reply(raw=text.encode(), status=status, headers=headers)
    return Reply(data, status=status, headers=headers)


def agent_health_routes(store: Store) -> list[Route]:
    async def by_id(call: Call) -> Reply:
        if not call.rest:
            raise BadRequest("Missing serviceID")
        svc = store.service(call.rest)
        if svc is None:
            empty = {"AggregatedStatus": "critical", "Service": None, "Checks": None}
            return _answer(call, 404, f"ServiceId {call.rest} not found", empty)
        status, info = _info(store, svc)
        return _answer(call, _CODES[status], status, info)

    async def by_name(call: Call) -> Reply:
        if not call.rest:
            raise BadRequest("Missing service Name")
        found = [_info(store, svc) for svc in store.instances(call.rest)]
        found = [(s, i) for s, i in found if i["Service"]["Service"] == call.rest]
        if not found:
            return _answer(call, 404, f"ServiceName {call.rest} Not Found", [])
        worst = max((s for s, _ in found), key=_RANK.__getitem__)
        return _answer(call, _CODES[worst], worst, [i for _, i in found])

    async def service(call: Call) -> Reply:
        svc = store.service(call.rest)
        wanted = call.params.get("hash")
        if svc is not None and wanted and _with_hash(store, svc)["ContentHash"] == wanted:
            await _wait_for_change(store, call, svc.name, wanted)
            svc = store.service(call.rest)
        if svc is None:
            return Reply(raw=f"unknown service ID: {call.rest}".encode(), status=404)
        rendered = _with_hash(store, svc)
        return Reply(rendered, headers=[("X-Consul-ContentHash", rendered["ContentHash"])])

    get = ("GET",)
    return [
        Route(get, "/v1/agent/health/service/id/", True, action=by_id),
        Route(get, "/v1/agent/health/service/name/", True, action=by_name),
        Route(get, "/v1/agent/service/", True, action=service),
    ]


def _with_hash(store: Store, svc: Service) -> dict[str, Any]:
    rendered = agent_service(store, svc)
    rendered["ContentHash"] = content_hash(rendered)
    return rendered


async def _wait_for_change(store: Store, call: Call, name: str, wanted: str) -> None:
    """Hash-based blocking: return once the service's hash differs from `wanted`, it is
    gone, or the wait is over."""
    _, wait = blocking_params(call)
    deadline = time.monotonic() + wait
    topics = (service_topic(name), SERVICES)
    while (remaining := deadline - time.monotonic()) > 0:
        await store.hub.wait(topics, None, remaining)
        svc = store.service(call.rest)
        if svc is None or _with_hash(store, svc)["ContentHash"] != wanted:
            return
