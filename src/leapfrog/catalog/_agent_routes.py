"""/v1/agent/*: the local agent's services, checks, maintenance and TTL heartbeats."""

from __future__ import annotations

from typing import Any

from leapfrog.catalog._api import Call, Reply, Route, go_bool
from leapfrog.catalog._body import BadRequest, parse_json_object
from leapfrog.catalog._checkdef import parse_status
from leapfrog.catalog._filter import compile_filter
from leapfrog.catalog._model import Check
from leapfrog.catalog._render import agent_service, check_json
from leapfrog.catalog._service_body import parse_check_registration, parse_service
from leapfrog.catalog._store import SERF_CHECK, Store
from leapfrog.catalog.checks.api import NotTTL, Status

__all__ = ["agent_routes"]

NODE_MAINTENANCE = "_node_maintenance"
_OUTPUT_LIMIT = 4096


def _filtered(call: Call, items: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    predicate = compile_filter(call.params.get("filter"))
    if predicate is None:
        return items
    return {k: v for k, v in items.items() if predicate(v)}


def _enable(call: Call) -> bool:
    raw = call.params.get("enable")
    if raw is None:
        raise BadRequest("Missing value for enable")
    enable = go_bool(raw)
    if enable is None:
        raise BadRequest("Invalid value for enable")
    return enable


def agent_routes(store: Store, self_info: dict[str, Any]) -> list[Route]:
    async def agent_self(call: Call) -> Reply:
        # Stats.agent counts what the agent holds now, as Consul's does (strings).
        checks = [c for c in store.checks.values() if c.id != SERF_CHECK]
        agent = {
            "check_monitors": "0",  # script checks, which the catalog does not run
            "check_ttls": str(sum(1 for c in checks if c.kind == "ttl")),
            "checks": str(len(checks)),
            "services": str(len(store.services)),
        }
        return Reply({**self_info, "Stats": {**self_info["Stats"], "agent": agent}})

    async def members(call: Call) -> Reply:
        return Reply([self_info["Member"]])

    async def services(call: Call) -> Reply:
        items = {s.id: agent_service(store, s) for s in store.services.values()}
        return Reply(_filtered(call, items))

    async def checks(call: Call) -> Reply:
        items = {c.id: check_json(store, c) for c in store.checks.values() if c.id != SERF_CHECK}
        return Reply(_filtered(call, items))

    async def register_service(call: Call) -> Reply:
        svc, svc_checks = parse_service(parse_json_object(call.request.body))
        svc.address_tags = True
        replace = call.params.get("replace-existing-checks")
        store.register_service(svc, svc_checks, replace_checks=bool(replace and go_bool(replace)))
        return Reply(raw=b"")

    async def deregister_service(call: Call) -> Reply:
        if not store.deregister_service(call.rest):
            raise BadRequest(
                f'Unknown service ID "{call.rest}". Ensure that the service ID is passed, '
                "not the service name.",
                404,
            )
        return Reply(raw=b"")

    async def service_maintenance(call: Call) -> Reply:
        enable = _enable(call)
        svc = store.service(call.rest)
        if svc is None:
            raise BadRequest(f'Unknown service ID "{call.rest}"', 404)
        check_id = f"_service_maintenance:{svc.id}"
        if enable:
            reason = call.params.get("reason") or (
                "Maintenance mode is enabled for this service, "
                "but no reason was provided. This is a default message."
            )
            store.put_check(
                Check(
                    check_id,
                    "Service Maintenance Mode",
                    "critical",
                    svc.id,
                    notes=reason,
                    check_type="maintenance",
                )
            )
        else:
            store.remove_check(check_id)
        return Reply(raw=b"")

    async def node_maintenance(call: Call) -> Reply:
        if _enable(call):
            reason = call.params.get("reason") or (
                "Maintenance mode is enabled for this node, "
                "but no reason was provided. This is a default message."
            )
            store.put_check(
                Check(
                    NODE_MAINTENANCE,
                    "Node Maintenance Mode",
                    "critical",
                    notes=reason,
                    check_type="maintenance",
                )
            )
        else:
            store.remove_check(NODE_MAINTENANCE)
        return Reply(raw=b"")

    async def register_check(call: Call) -> Reply:
        body = parse_json_object(call.request.body)
        check, keep_status = parse_check_registration(body, set(store.services))
        store.put_check(check, keep_status)
        return Reply(raw=b"")

    async def deregister_check(call: Call) -> Reply:
        if call.rest == SERF_CHECK or not store.remove_check(call.rest):
            raise BadRequest(
                f'Unknown check ID "{call.rest}". Ensure that the check ID is passed, '
                "not the check name.",
                404,
            )
        return Reply(raw=b"")

    def ttl(status: Status) -> Any:
        async def action(call: Call) -> Reply:
            _ttl_update(store, call.rest, status, call.params.get("note", ""))
            return Reply(raw=b"")

        return action

    async def update(call: Call) -> Reply:
        body = parse_json_object(call.request.body)
        status = _required_status(body.text("Status"))
        _ttl_update(store, call.rest, status, body.text("Output"))
        return Reply(raw=b"")

    put = ("PUT",)
    return [
        Route(("GET",), "/v1/agent/self", action=agent_self),
        Route(("GET",), "/v1/agent/members", action=members),
        Route(("GET",), "/v1/agent/services", action=services),
        Route(("GET",), "/v1/agent/checks", action=checks),
        Route(put, "/v1/agent/service/register", action=register_service),
        Route(put, "/v1/agent/service/deregister/", prefix=True, action=deregister_service),
        Route(put, "/v1/agent/service/maintenance/", prefix=True, action=service_maintenance),
        Route(put, "/v1/agent/maintenance", action=node_maintenance),
        Route(put, "/v1/agent/check/register", action=register_check),
        Route(put, "/v1/agent/check/deregister/", prefix=True, action=deregister_check),
        Route(put, "/v1/agent/check/pass/", prefix=True, action=ttl("passing")),
        Route(put, "/v1/agent/check/warn/", prefix=True, action=ttl("warning")),
        Route(put, "/v1/agent/check/fail/", prefix=True, action=ttl("critical")),
        Route(put, "/v1/agent/check/update/", prefix=True, action=update),
    ]


def _required_status(text: str) -> Status:
    if not text:
        raise BadRequest('Invalid check status: ""')
    return parse_status(text)


def _ttl_update(store: Store, check_id: str, status: Status, output: str) -> None:
    output = output[:_OUTPUT_LIMIT]
    check = store.checks.get(check_id)
    not_ttl = BadRequest(f'CheckID "{check_id}" does not have associated TTL', 500)
    if check is None or check.kind != "ttl":
        raise not_ttl
    if store.checker is not None:
        try:
            store.checker.ttl_update(check_id, status, output)
        except NotTTL:
            raise not_ttl from None
    store.update_check(check_id, status, output)
