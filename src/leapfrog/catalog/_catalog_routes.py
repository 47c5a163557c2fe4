"""/v1/catalog/register, /v1/catalog/deregister and /v1/catalog/node-services/<node>.

The catalog holds one node, the agent's own. Registering entries on it works as in
Consul: a service, and checks that are records only (nobody runs them; their status is
what the request says, `critical` by default). Other node names (external nodes) are
refused with a 500 that says so: the store, its renderers and DNS know one node only.
Deregistering something on a node that does not exist is `true`, as in Consul, and so is
deregistering a service or check that is not there. What Consul's catalog RPC refuses is
a 500 with its text; a body that does not decode is a 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leapfrog.catalog._api import Call, Reply, Route
from leapfrog.catalog._body import BadRequest, Fields, parse_json_object
from leapfrog.catalog._checkdef import parse_catalog_definition, parse_status
from leapfrog.catalog._index import NODE
from leapfrog.catalog._model import Check, Service
from leapfrog.catalog._render import health_service, node_json
from leapfrog.catalog._service_body import parse_service
from leapfrog.catalog._store import SERF_CHECK, Store

__all__ = ["catalog_routes", "parse_registration"]


@dataclass
class Registration:
    service: Service | None
    checks: list[Check]
    node_meta: dict[str, str] | None


def _node(store: Store, fields: Fields) -> str:
    dc = fields.text("Datacenter")
    if dc and dc != store.datacenter:
        raise BadRequest("No path to datacenter", 500)
    node = fields.text("Node")
    if not node:
        raise BadRequest("Must provide node", 500)
    return node


def _is_own(store: Store, node: str) -> bool:
    return node.lower() == store.node_name.lower()


def parse_registration(store: Store, fields: Fields) -> Registration:
    """A catalog/register body, validated in full before anything changes."""
    node = _node(store, fields)
    if not fields.text("Address") and not fields.boolean("SkipNodeUpdate"):
        raise BadRequest("Must provide address if SkipNodeUpdate is not set", 500)
    if not _is_own(store, node):
        raise BadRequest(
            f'Cannot register node "{node}": this catalog holds one node, '
            f'"{store.node_name}" (leapfrog does not keep external nodes)',
            500,
        )
    service = None
    service_fields = fields.obj("Service")
    if service_fields is not None:
        if not service_fields.text("Service", "Name"):
            raise BadRequest("Must provide service name with ID", 500)
        service, _ = parse_service(service_fields)
    known = set(store.services) | ({service.id} if service else set())
    check_fields = ([single] if (single := fields.obj("Check")) else []) + fields.obj_list("Checks")
    checks = [_check(store, node, c, known) for c in check_fields]
    meta = fields.str_map("NodeMeta") if fields.raw("NodeMeta") is not None else None
    return Registration(service, checks, meta)


def _check(store: Store, node: str, fields: Fields, services: set[str]) -> Check:
    check_node = fields.text("Node") or node
    if check_node != node:
        raise BadRequest(f'Check node "{check_node}" does not match node "{node}"', 500)
    check_id = fields.text("CheckID", "ID") or fields.text("Name")
    if not check_id:
        raise BadRequest("Missing check ID", 500)
    if check_id == SERF_CHECK:
        raise BadRequest(f'Check "{SERF_CHECK}" is the agent\'s own and cannot be replaced', 500)
    service_id = fields.text("ServiceID")
    if service_id and service_id not in services:
        raise BadRequest("Missing service registration", 500)
    status = parse_status(fields.text("Status") or "critical")
    name = fields.text("Name") or check_id
    notes, output = fields.text("Notes"), fields.text("Output")
    # Type, Interval and Timeout are kept as sent, as Consul keeps them.
    return Check(
        check_id,
        name,
        status,
        service_id,
        notes=notes,
        output=output,
        check_type=fields.text("Type"),
        interval=fields.text("Interval"),
        timeout=fields.text("Timeout"),
        shown_definition=parse_catalog_definition(fields.obj("Definition")),
    )


def catalog_routes(store: Store) -> list[Route]:
    async def register(call: Call) -> Reply:
        registration = parse_registration(store, parse_json_object(call.request.body))
        if registration.node_meta is not None:
            store.set_node_meta(registration.node_meta)
        if registration.service is not None:
            store.register_service(registration.service, [])
        for check in registration.checks:
            store.put_check(check, keep_status=False)
        return Reply(True)

    async def deregister(call: Call) -> Reply:
        fields = parse_json_object(call.request.body)
        node = _node(store, fields)
        service_id, check_id = fields.text("ServiceID"), fields.text("CheckID")
        if not _is_own(store, node):
            return Reply(True)  # no such node here: nothing to remove, as in Consul
        if service_id:
            store.deregister_service(service_id)
        elif check_id:
            if check_id != SERF_CHECK:
                store.remove_check(check_id)
        else:
            raise BadRequest(
                f'Cannot deregister node "{node}": it is this agent\'s own node '
                "(deregister its services or checks instead)",
                500,
            )
        return Reply(True)

    put = ("PUT",)
    return [
        Route(put, "/v1/catalog/register", action=register),
        Route(put, "/v1/catalog/deregister", action=deregister),
        Route(("GET",), "/v1/catalog/node-services/", True, query=_NodeServices(store)),
    ]


@dataclass
class _NodeServices:
    store: Store

    def validate(self, call: Call) -> None:
        if not call.rest:
            raise BadRequest("Missing node name")

    def watch(self, call: Call) -> tuple[tuple[str, ...], str | None]:
        return (NODE,), None

    def index(self, call: Call) -> int:
        return self.store.log.of(NODE)

    def reply(self, call: Call) -> Reply:
        store = self.store
        if not _is_own(store, call.rest):
            return Reply({"Node": None, "Services": []})
        services = sorted(store.services.values(), key=lambda s: s.id)
        body: dict[str, Any] = {
            "Node": node_json(store),
            "Services": [health_service(s) for s in services],
        }
        return Reply(body)
