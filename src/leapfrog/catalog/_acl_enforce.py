"""What each endpoint needs from a token, and what it hides from one that lacks it.

As in Consul: a request for one object (a KV key, `/v1/agent/self`, a service's agent
health, any write) its token may not make is a 403 with Consul's `Permission denied: ...`
text; a listing answers 200 with only what the token may read (KV listings answer 404
when nothing is left, as an empty listing does). Whether anything was hidden is told
(`X-Consul-Results-Filtered-By-ACLs: true`) only to requests that carry a token, as
Consul does, so an anonymous caller does not learn that hidden things exist.

One table, keyed by the route's path, so the endpoint modules stay free of ACL and a new
endpoint without an entry is refused to every token but the management one (fail
closed; a unit test checks every route has its entry).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leapfrog.catalog._acl import (
    Access,
    AclConfig,
    AclError,
    Authorizer,
    UnknownToken,
    permission_denied,
)
from leapfrog.catalog._api import Call, Reply
from leapfrog.catalog._body import BadRequest, Fields, parse_json_object
from leapfrog.catalog._connect_routes import intention_name
from leapfrog.catalog._store import Store
from leapfrog.catalog._txn_routes import parse_txn

__all__ = ["AclGuard"]

log = logging.getLogger("leapfrog.catalog")

READ, WRITE = Access.READ, Access.WRITE
_TXN_WRITES = ("set", "cas", "lock", "unlock", "delete", "delete-cas")
_TXN_CHECKS = ("check-index", "check-session", "check-not-exists")

Check = Callable[[Authorizer, Store, Call, str], Reply | None]
"""Raises BadRequest(403) for a request the token may not make; or returns the whole
answer of a refusal that has its own shape (a transaction's 409); None: go ahead."""
Filter = Callable[[Authorizer, Store, Call, Reply], bool]
"""Drops from the reply what the token may not read; True when it dropped anything."""


@dataclass(frozen=True)
class _Entry:
    check: Check | None = None
    filter: Filter | None = None


def _need(authz: Authorizer, resource: str, name: str, access: Access) -> None:
    if not authz.allows(resource, name, access):
        raise BadRequest(permission_denied(authz, resource, access, name), 403)


# --- single objects and writes -------------------------------------------------------


def _agent_read(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    _need(authz, "agent", store.node_name, READ)


def _node_write(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    _need(authz, "node", store.node_name, WRITE)


def _service_by_id(access: Access) -> Check:
    def check(authz: Authorizer, store: Store, call: Call, method: str) -> None:
        svc = store.service(call.rest)
        if svc is not None:  # an unknown ID is the endpoint's own 404
            _need(authz, "service", svc.name, access)

    return check


def _service_by_name(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    _need(authz, "service", call.rest, READ)


def _check_write(authz: Authorizer, store: Store, check_id: str) -> None:
    check = store.checks.get(check_id)
    if check is None:
        return  # the endpoint's own 404
    svc = store.service(check.service_id) if check.service_id else None
    if svc is not None:
        _need(authz, "service", svc.name, WRITE)
    else:
        _need(authz, "node", store.node_name, WRITE)


def _check_by_id(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    _check_write(authz, store, call.rest)


def _register_service(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    fields = parse_json_object(call.request.body)
    name = fields.text("Name", "Service")
    if not name:
        return  # the endpoint answers "Missing service name"
    _need(authz, "service", name, WRITE)
    existing = store.service(fields.text("ID", "ServiceID") or name)
    if existing is not None and existing.name != name:  # renaming needs both
        _need(authz, "service", existing.name, WRITE)


def _register_check(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    fields = parse_json_object(call.request.body)
    svc = store.service(fields.text("ServiceID"))
    if svc is not None:
        _need(authz, "service", svc.name, WRITE)
    else:
        _need(authz, "node", store.node_name, WRITE)
    _check_write(authz, store, fields.text("CheckID", "ID") or fields.text("Name"))


def _catalog_register(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    fields = parse_json_object(call.request.body)
    node = fields.text("Node") or store.node_name
    service = fields.obj("Service")
    named: dict[str, str] = {}
    if service is not None:
        name = service.text("Service", "Name")
        _need(authz, "service", name, WRITE)
        named[service.text("ID") or name] = name
    if service is None or fields.raw("NodeMeta") is not None:
        _need(authz, "node", node, WRITE)
    single = fields.obj("Check")
    for check in ([single] if single else []) + fields.obj_list("Checks"):
        service_id = check.text("ServiceID")
        owner = named.get(service_id) or (svc.name if (svc := store.service(service_id)) else "")
        if service_id and owner:
            _need(authz, "service", owner, WRITE)
        else:
            _need(authz, "node", check.text("Node") or node, WRITE)


def _catalog_deregister(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    fields = parse_json_object(call.request.body)
    service_id, check_id = fields.text("ServiceID"), fields.text("CheckID")
    if service_id:
        svc = store.service(service_id)
        if svc is not None:
            _need(authz, "service", svc.name, WRITE)
    elif check_id:
        _check_write(authz, store, check_id)
    else:
        _need(authz, "node", fields.text("Node") or store.node_name, WRITE)


def _kv(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    key = call.rest
    if method == "GET":
        if not (call.flag("recurse") or call.flag("keys")):
            _need(authz, "key", key, READ)
    elif method == "DELETE" and call.flag("recurse"):
        if not authz.allows_prefix("key", key, WRITE):
            raise BadRequest(permission_denied(authz, "key", WRITE, key), 403)
    else:
        _need(authz, "key", key, WRITE)


def _acl_level(read_methods: tuple[str, ...] = ("GET",)) -> Check:
    """The ACL API: `acl:read` to read, `acl:write` for everything else."""

    def check(authz: Authorizer, store: Store, call: Call, method: str) -> None:
        _need(authz, "acl", "", READ if method in read_methods else WRITE)

    return check


def _session_create(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    body = call.request.body
    fields = parse_json_object(body) if body.strip() else Fields({}, "body")
    _need(authz, "session", fields.text("Node") or store.node_name, WRITE)


def _session_by_id(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    session = store.sessions.get(call.rest)
    # Every session lives on this node: an unknown one needs what a known one would.
    _need(authz, "session", session.node if session else store.node_name, WRITE)


def _txn(authz: Authorizer, store: Store, call: Call, method: str) -> Reply | None:
    errors = []
    for number, op in enumerate(parse_txn(call.request.body)):
        if op is None:
            continue  # refused by the endpoint itself
        if op.verb == "delete-tree":
            allowed = authz.allows_prefix("key", op.key, WRITE)
            access = WRITE
        else:
            access = WRITE if op.verb in _TXN_WRITES else READ
            allowed = op.verb not in (*_TXN_WRITES, *_TXN_CHECKS) or authz.allows(
                "key", op.key, access
            )
        if not allowed:
            text = permission_denied(authz, "key", access, op.key)
            errors.append({"OpIndex": number, "What": text})
    if errors:
        return Reply({"Results": None, "Errors": errors}, status=409)
    return None


def _leaf(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    _need(authz, "service", call.rest, WRITE)  # Consul's rule for a leaf certificate


def _authorize(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    target = parse_json_object(call.request.body).text("Target")
    if target:  # none: the endpoint's own 400
        _need(authz, "service", target, WRITE)


def _ixn_read_either(authz: Authorizer, source: str, destination: str) -> None:
    """Reading an intention needs intention:read on either of its ends (Consul's CanRead)."""
    if not (
        authz.allows("intention", source, READ) or authz.allows("intention", destination, READ)
    ):
        raise BadRequest(permission_denied(authz, "intention", READ, destination), 403)


def _ixn_names(call: Call) -> tuple[str, str] | None:
    source, destination = call.params.get("source"), call.params.get("destination")
    if source is None or destination is None:
        return None  # the endpoint's own 400
    return intention_name(source, "source"), intention_name(destination, "destination")


def _ixn_exact(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    pair = _ixn_names(call)
    if pair is None:
        return
    if method == "GET":
        _ixn_read_either(authz, *pair)
    else:
        _need(authz, "intention", pair[1], WRITE)


def _ixn_create(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    if method == "POST":
        destination = parse_json_object(call.request.body).text("DestinationName")
        _need(authz, "intention", destination, WRITE)


def _ixn_match(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    for name in call.values("name"):
        _need(authz, "intention", intention_name(name, "name"), READ)


def _ixn_check(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    pair = _ixn_names(call)
    if pair is not None:
        _need(authz, "intention", pair[1], READ)


def _ixn_by_id(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    found = store.intentions.by_id(call.rest)
    if found is None:
        return  # the endpoint's own 404
    if method == "GET":
        _ixn_read_either(authz, found.source, found.destination)
        return
    _need(authz, "intention", found.destination, WRITE)
    if method == "PUT":
        destination = parse_json_object(call.request.body).text("DestinationName")
        _need(authz, "intention", destination, WRITE)


def _operator_read(authz: Authorizer, store: Store, call: Call, method: str) -> None:
    _need(authz, "operator", "", READ)


# --- listings ------------------------------------------------------------------------


def _node_ok(authz: Authorizer, node: Any) -> bool:
    return authz.allows("node", str(node or ""), READ)


def _service_ok(authz: Authorizer, name: Any) -> bool:
    return authz.allows("service", str(name or ""), READ)


def _check_ok(authz: Authorizer, check: dict[str, Any]) -> bool:
    service = check.get("ServiceName")
    return _node_ok(authz, check.get("Node")) and (not service or _service_ok(authz, service))


def _keep_list(keep: Callable[[Authorizer, Any], bool]) -> Filter:
    def apply(authz: Authorizer, store: Store, call: Call, reply: Reply) -> bool:
        items = reply.data
        if not isinstance(items, list):
            return False
        kept = [item for item in items if keep(authz, item)]
        reply.data = kept
        return len(kept) != len(items)

    return apply


def _keep_map(keep: Callable[[Authorizer, str, Any], bool]) -> Filter:
    def apply(authz: Authorizer, store: Store, call: Call, reply: Reply) -> bool:
        items = reply.data
        if not isinstance(items, dict):
            return False
        kept = {key: value for key, value in items.items() if keep(authz, key, value)}
        reply.data = kept
        return len(kept) != len(items)

    return apply


def _instance_ok(authz: Authorizer, item: Any) -> bool:
    """A health or catalog entry of a service instance: its node and its service."""
    node = item.get("Node")
    node_name = node.get("Node") if isinstance(node, dict) else node
    service = item.get("Service")
    service_name = service.get("Service") if isinstance(service, dict) else item.get("ServiceName")
    return _node_ok(authz, node_name) and _service_ok(authz, service_name)


def _catalog_node(authz: Authorizer, store: Store, call: Call, reply: Reply) -> bool:
    data = reply.data
    if not isinstance(data, dict):
        return False
    node = data.get("Node")
    if node is not None and not _node_ok(authz, node.get("Node")):
        reply.data = (
            None if isinstance(data.get("Services"), dict) else {"Node": None, "Services": []}
        )
        return True
    services = data.get("Services")
    if isinstance(services, dict):
        kept: Any = {k: v for k, v in services.items() if _service_ok(authz, v.get("Service"))}
    elif isinstance(services, list):
        kept = [s for s in services if _service_ok(authz, s.get("Service"))]
    else:
        return False
    data["Services"] = kept
    return len(kept) != len(services)


def _kv_listing(authz: Authorizer, store: Store, call: Call, reply: Reply) -> bool:
    if not (call.flag("recurse") or call.flag("keys")) or not isinstance(reply.data, list):
        return False
    items = reply.data
    key_of: Callable[[Any], str] = (
        (lambda item: item) if call.flag("keys") else (lambda item: item.get("Key", ""))
    )
    kept = [item for item in items if authz.allows("key", key_of(item), READ)]
    if not kept and (call.rest or not call.flag("keys")):
        reply.data, reply.raw, reply.status = None, b"", 404
    else:
        reply.data = kept
    return len(kept) != len(items)


def _txn_results(authz: Authorizer, store: Store, call: Call, reply: Reply) -> bool:
    data = reply.data
    results = data.get("Results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        return False
    kept = [r for r in results if authz.allows("key", (r.get("KV") or {}).get("Key", ""), READ)]
    data["Results"] = kept
    return len(kept) != len(results)


def _ixn_readable(authz: Authorizer, item: Any) -> bool:
    return authz.allows("intention", str(item.get("SourceName", "")), READ) or authz.allows(
        "intention", str(item.get("DestinationName", "")), READ
    )


def _ixn_matches(authz: Authorizer, store: Store, call: Call, reply: Reply) -> bool:
    data = reply.data
    if not isinstance(data, dict):
        return False
    hidden = False
    for name, items in data.items():
        kept = [i for i in items if _ixn_readable(authz, i)]
        hidden = hidden or len(kept) != len(items)
        data[name] = kept
    return hidden


_session_list = _keep_list(lambda authz, s: authz.allows("session", s.get("Node", ""), READ))
_checks_list = _keep_list(_check_ok)

_OPEN = _Entry()

_TABLE: dict[str, _Entry] = {
    # Open to every caller, as in Consul.
    "/v1/status/leader": _OPEN,
    "/v1/status/peers": _OPEN,
    "/v1/catalog/datacenters": _OPEN,
    "/v1/agent/version": _OPEN,
    "/v1/leapfrog/openapi.json": _OPEN,
    "/v1/acl/token/self": _OPEN,  # describes the caller's own token, or 403s itself
    # The ACL API itself: acl = "read" to read, acl = "write" to change.
    "/v1/acl/policy": _Entry(_acl_level()),
    "/v1/acl/policy/": _Entry(_acl_level()),
    "/v1/acl/policy/name/": _Entry(_acl_level()),
    "/v1/acl/policies": _Entry(_acl_level()),
    "/v1/acl/role": _Entry(_acl_level()),
    "/v1/acl/role/": _Entry(_acl_level()),
    "/v1/acl/role/name/": _Entry(_acl_level()),
    "/v1/acl/roles": _Entry(_acl_level()),
    "/v1/acl/token": _Entry(_acl_level()),
    "/v1/acl/token/": _Entry(_acl_level()),
    "/v1/acl/tokens": _Entry(_acl_level()),
    "/ui": _OPEN,  # a redirect to the console, which asks for a token itself
    # The agent.
    "/v1/agent/self": _Entry(_agent_read),
    "/v1/agent/metrics": _Entry(_agent_read),
    "/v1/agent/members": _Entry(filter=_keep_list(lambda a, m: _node_ok(a, m.get("Name")))),
    "/v1/agent/services": _Entry(
        filter=_keep_map(lambda a, _k, s: _service_ok(a, s.get("Service")))
    ),
    "/v1/agent/checks": _Entry(filter=_keep_map(lambda a, _k, c: _check_ok(a, c))),
    "/v1/agent/service/": _Entry(_service_by_id(READ)),
    "/v1/agent/health/service/id/": _Entry(_service_by_id(READ)),
    "/v1/agent/health/service/name/": _Entry(_service_by_name),
    "/v1/agent/service/register": _Entry(_register_service),
    "/v1/agent/service/deregister/": _Entry(_service_by_id(WRITE)),
    "/v1/agent/service/maintenance/": _Entry(_service_by_id(WRITE)),
    "/v1/agent/maintenance": _Entry(_node_write),
    "/v1/agent/check/register": _Entry(_register_check),
    "/v1/agent/check/deregister/": _Entry(_check_by_id),
    "/v1/agent/check/pass/": _Entry(_check_by_id),
    "/v1/agent/check/warn/": _Entry(_check_by_id),
    "/v1/agent/check/fail/": _Entry(_check_by_id),
    "/v1/agent/check/update/": _Entry(_check_by_id),
    # Health and catalog listings.
    "/v1/health/service/": _Entry(filter=_keep_list(_instance_ok)),
    "/v1/health/checks/": _Entry(filter=_checks_list),
    "/v1/health/state/": _Entry(filter=_checks_list),
    "/v1/health/node/": _Entry(filter=_checks_list),
    "/v1/health/connect/": _Entry(filter=_keep_list(_instance_ok)),
    "/v1/health/ingress/": _Entry(filter=_keep_list(_instance_ok)),
    "/v1/coordinate/nodes": _Entry(filter=_keep_list(lambda a, c: _node_ok(a, c.get("Node")))),
    "/v1/coordinate/node/": _Entry(filter=_keep_list(lambda a, c: _node_ok(a, c.get("Node")))),
    "/v1/coordinate/datacenters": _OPEN,  # as /v1/catalog/datacenters
    # A prepared query list is always empty here; creating one is refused for everyone.
    "/v1/query": _OPEN,
    "/v1/catalog/services": _Entry(filter=_keep_map(lambda a, name, _tags: _service_ok(a, name))),
    "/v1/catalog/service/": _Entry(filter=_keep_list(_instance_ok)),
    "/v1/catalog/nodes": _Entry(filter=_keep_list(lambda a, n: _node_ok(a, n.get("Node")))),
    "/v1/catalog/node/": _Entry(filter=_catalog_node),
    "/v1/catalog/node-services/": _Entry(filter=_catalog_node),
    "/v1/catalog/register": _Entry(_catalog_register),
    "/v1/catalog/deregister": _Entry(_catalog_deregister),
    # KV, sessions, transactions.
    "/v1/kv/": _Entry(_kv, _kv_listing),
    "/v1/session/create": _Entry(_session_create),
    "/v1/session/destroy/": _Entry(_session_by_id),
    "/v1/session/renew/": _Entry(_session_by_id),
    "/v1/session/info/": _Entry(filter=_session_list),
    "/v1/session/node/": _Entry(filter=_session_list),
    "/v1/session/list": _Entry(filter=_session_list),
    "/v1/txn": _Entry(_txn, _txn_results),
    # The service mesh: roots are public (every service must trust them), as in Consul.
    "/v1/connect/ca/roots": _OPEN,
    "/v1/agent/connect/ca/roots": _OPEN,
    "/v1/connect/ca/configuration": _Entry(_operator_read),
    "/v1/agent/connect/ca/leaf/": _Entry(_leaf),
    "/v1/agent/connect/authorize": _Entry(_authorize),
    "/v1/connect/intentions": _Entry(_ixn_create, _keep_list(_ixn_readable)),
    "/v1/connect/intentions/exact": _Entry(_ixn_exact),
    "/v1/connect/intentions/match": _Entry(_ixn_match, _ixn_matches),
    "/v1/connect/intentions/check": _Entry(_ixn_check),
    "/v1/connect/intentions/": _Entry(_ixn_by_id),
}


class AclGuard:
    """ACL for one catalog: resolves a request's token, then applies the table above."""

    def __init__(self, store: Store, config: AclConfig) -> None:
        self._store = store
        self.config = config

    def resolve(self, token: str) -> Authorizer:
        """The token's authorizer ("" is the anonymous token): a configured one (the
        management token, the tokens file's), else one made through the ACL API; 403
        `ACL not found` for a token nobody issued."""
        try:
            return self.config.resolve(token)
        except UnknownToken:
            made = self._store.acl.resolve(token)
            if made is None:
                raise BadRequest("ACL not found", 403) from None
            return made

    def reload(self) -> bool:
        """Read the tokens file again if it changed (the supervisor adds an instance's
        token there before starting it); True when it did. A file that no longer reads
        keeps the tokens it had, and says why in the log."""
        try:
            fresh = self.config.reloaded()
        except AclError as exc:
            log.warning("catalog: kept the tokens it had: %s", exc)
            return False
        if fresh is None:
            return False
        self.config = fresh
        return True

    @staticmethod
    def knows(route_path: str) -> bool:
        return route_path in _TABLE

    def check(self, authz: Authorizer, route_path: str, call: Call, method: str) -> Reply | None:
        """Before the endpoint runs: raises BadRequest(403), or returns a refusal."""
        if authz.management:
            return None
        entry = _TABLE.get(route_path)
        if entry is None:
            raise BadRequest(permission_denied(authz, "operator", WRITE), 403)
        return entry.check(authz, self._store, call, method) if entry.check else None

    def filter(self, authz: Authorizer, route_path: str, call: Call, reply: Reply) -> bool:
        """After it ran: keep only what the token may read; True when anything went."""
        if authz.management or reply.status != 200:
            return False
        entry = _TABLE.get(route_path)
        if entry is None or entry.filter is None:
            return False
        return entry.filter(authz, self._store, call, reply)
