"""OpenAPI entries of the catalog, txn, agent health, ACL and metrics endpoints (the
rest are in `_openapi`, which merges these in)."""

from __future__ import annotations

from typing import Any

from leapfrog.catalog._openapi import (
    _BLOCKING,
    _CHECK,
    _DURATION,
    _FILTER,
    _INT,
    _SERVICE,
    _STR,
    _STR_MAP,
    _op,
    _path,
    _query,
)
from leapfrog.catalog._txn import VERBS

__all__ = ["more_paths"]

_BOOL = {"type": "boolean"}
_CATALOG_CHECK = {
    "type": "object",
    "description": "A check record (not run): CheckID (default: Name), Status default critical",
    "properties": {
        "Node": _STR,
        "CheckID": _STR,
        "Name": _STR,
        "Notes": _STR,
        "Status": _CHECK["properties"]["Status"],  # type: ignore[index]
        "ServiceID": _STR,
        "Output": _STR,
        "Type": _STR,
        "Interval": _STR,
        "Timeout": _STR,
        "Definition": {
            "type": "object",
            "description": "Kept and rendered as Consul does (Go durations), never run",
            "properties": {
                "HTTP": _STR,
                "TCP": _STR,
                "Interval": _DURATION,
                "Timeout": _DURATION,
                "DeregisterCriticalServiceAfter": _DURATION,
                "TTL": _DURATION,
            },
        },
    },
}
_REGISTER = {
    "type": "object",
    "required": ["Node", "Address"],
    "description": "Node must be this agent's node; other nodes are refused (500).",
    "properties": {
        "Node": _STR,
        "Address": _STR,
        "Datacenter": _STR,
        "SkipNodeUpdate": _BOOL,
        "NodeMeta": _STR_MAP,
        "TaggedAddresses": _STR_MAP,
        "Service": {**_SERVICE, "required": ["Service"]},
        "Check": _CATALOG_CHECK,
        "Checks": {"type": "array", "items": _CATALOG_CHECK},
    },
}
_DEREGISTER = {
    "type": "object",
    "required": ["Node"],
    "properties": {"Node": _STR, "Datacenter": _STR, "ServiceID": _STR, "CheckID": _STR},
}


_TXN = {
    "type": "array",
    "maxItems": 128,
    "items": {
        "type": "object",
        "properties": {
            "KV": {
                "type": "object",
                "properties": {
                    "Verb": {"type": "string", "enum": list(VERBS)},
                    "Key": _STR,
                    "Value": {"type": "string", "format": "byte"},
                    "Flags": _INT,
                    "Index": _INT,
                    "Session": _STR,
                },
            }
        },
    },
}


def _txn() -> dict[str, Any]:
    operation = _op("KV operations, all or nothing", body=_TXN)
    operation["responses"]["409"] = {"description": "Rolled back: {Results: null, Errors}"}
    operation["responses"]["413"] = {"description": "More than 128 operations, or a value"}
    return {"put": operation}


def _health(summary: str, name: str) -> dict[str, Any]:
    operation = _op(summary, [_path(name), _query("format", _STR, "text: the status alone")])
    for code, meaning in (("429", "warning"), ("503", "critical or maintenance")):
        operation["responses"][code] = {"description": f"Aggregated status {meaning}"}
    return {"get": operation}


def _token_self() -> dict[str, Any]:
    operation = _op("The request's own token; 403 ACL not found")
    operation["responses"]["401"] = {"description": "ACL support disabled (ACL is off)"}
    return operation


_OBJ: dict[str, Any] = {"type": "object"}


def _acl_crud(what: str, key: str) -> dict[str, Any]:
    """GET/PUT/DELETE of one ACL object by its ID; 403 ACL not found for an unknown one."""
    return {
        "get": _op(f"Read a {what} (acl:read)", [_path(key)], indexed=True),
        "put": _op(f"Update a {what} (acl:write)", [_path(key)], body=_OBJ),
        "delete": _op(f"Delete a {what} (acl:write); answers true", [_path(key)]),
    }


def _acl_paths() -> dict[str, Any]:
    """Consul's ACL API (see docs/catalog.md, The ACL API)."""
    return {
        "/v1/acl/policy": {"put": _op("Create a policy: Name, Description, Rules", body=_OBJ)},
        "/v1/acl/policy/{id}": _acl_crud("policy", "id"),
        "/v1/acl/policy/name/{name}": {
            "get": _op("Read a policy by name", [_path("name")], indexed=True)
        },
        "/v1/acl/policies": {"get": _op("Policies, without their Rules", indexed=True)},
        "/v1/acl/role": {"put": _op("Create a role: Name, Policies, ServiceIdentities", body=_OBJ)},
        "/v1/acl/role/{id}": _acl_crud("role", "id"),
        "/v1/acl/role/name/{name}": {
            "get": _op("Read a role by name", [_path("name")], indexed=True)
        },
        "/v1/acl/roles": {"get": _op("Roles", [_query("policy", _STR)], indexed=True)},
        "/v1/acl/token": {
            "put": _op(
                "Create a token: Description, Policies, Roles, ServiceIdentities, Local, "
                "ExpirationTTL",
                body=_OBJ,
            )
        },
        "/v1/acl/token/{accessor}": _acl_crud("token", "accessor"),
        "/v1/acl/tokens": {
            "get": _op(
                "Tokens (SecretID <hidden> without acl:write)",
                [_query(n, _STR) for n in ("policy", "role", "servicename")],
                indexed=True,
            )
        },
    }


def more_paths() -> dict[str, Any]:
    hashed = [_path("id"), _query("hash", _STR, "Block while the ContentHash is this")]
    hashed.append(_query("wait", _DURATION))
    return {
        "/v1/agent/service/{id}": {"get": _op("One local service, with ContentHash", hashed)},
        "/v1/agent/health/service/id/{id}": _health("Aggregated health of a service", "id"),
        "/v1/agent/health/service/name/{name}": _health(
            "Aggregated health of a service's instances", "name"
        ),
        "/v1/acl/token/self": {"get": _token_self()},
        **_acl_paths(),
        "/v1/txn": _txn(),
        "/v1/agent/version": {"get": _op("Consul version answered as: {SHA, HumanVersion, ...}")},
        "/v1/agent/metrics": {
            "get": _op(
                "Gauges and counters: {Timestamp, Gauges, Points, Counters, Samples}",
                [_query("format", _STR, "prometheus: the text exposition format")],
            )
        },
        "/v1/catalog/register": {"put": _op("Register entries on this node", body=_REGISTER)},
        "/v1/catalog/deregister": {
            "put": _op("Deregister a service or check of a node", body=_DEREGISTER)
        },
        **_standalone_paths(),
        **_connect_paths(),
        "/v1/catalog/node-services/{node}": {
            "get": _op(
                "A node and a list of its services", [_path("node"), *_BLOCKING], indexed=True
            )
        },
    }


def _connect_paths() -> dict[str, Any]:
    """The service mesh: the CA, intentions, authorize."""
    pair = [_query("source", _STR, "name, or default/name"), _query("destination", _STR)]
    intention = {
        "type": "object",
        "properties": {
            "SourceName": _STR,
            "DestinationName": _STR,
            "Action": {"type": "string", "enum": ["allow", "deny"]},
            "Description": _STR,
            "Meta": _STR_MAP,
            "SourceType": {"type": "string", "enum": ["consul"]},
        },
    }
    roots = _op(
        "The CA roots: {ActiveRootID, TrustDomain, Roots}; public",
        [*_BLOCKING, _query("pem", _STR, "true: the roots as one PEM bundle")],
        indexed=True,
    )
    match = [
        _query("by", {"type": "string", "enum": ["source", "destination"]}),
        _query("name", _STR),
        *_BLOCKING,
    ]
    authorize = {
        "type": "object",
        "required": ["Target", "ClientCertURI"],
        "properties": {"Target": _STR, "ClientCertURI": _STR, "ClientCertSerial": _STR},
    }
    return {
        "/v1/connect/ca/roots": {"get": roots},
        "/v1/agent/connect/ca/roots": {"get": roots},
        "/v1/connect/ca/configuration": {"get": _op("The CA's configuration (operator:read)")},
        "/v1/agent/connect/ca/leaf/{service}": {
            "get": _op(
                "The service's leaf certificate and key (service:write); blocks until the "
                "next one with ?index",
                [_path("service"), *_BLOCKING],
                indexed=True,
            )
        },
        "/v1/agent/connect/authorize": {
            "post": _op(
                "May the certificate's service call Target? {Authorized, Reason}", body=authorize
            ),
        },
        "/v1/connect/intentions": {
            "get": _op("Every intention, by precedence", [*_BLOCKING, _FILTER], indexed=True),
            "post": _op("Create an intention (legacy): answers {ID}", body=intention),
        },
        "/v1/connect/intentions/exact": {
            "get": _op("The intention of a source and destination", pair),
            "put": _op(
                "Create or replace it (intention:write); answers true", pair, body=intention
            ),
            "delete": _op("Delete it; answers true", pair),
        },
        "/v1/connect/intentions/match": {
            "get": _op("The intentions that apply to each name, by precedence", match, indexed=True)
        },
        "/v1/connect/intentions/check": {
            "get": _op("Would source be allowed to call destination? {Allowed}", pair)
        },
        "/v1/connect/intentions/{id}": {
            "get": _op("A legacy intention by ID", [_path("id")]),
            "put": _op("Update it; answers true", [_path("id")], body=intention),
            "delete": _op("Delete it; answers true", [_path("id")]),
        },
    }


def _standalone_paths() -> dict[str, Any]:
    filters = [_query(name, _STR, "regular expression") for name in ("node", "service", "tag")]
    fire = _op("Fire a user event (payload: the body, up to 512 bytes with the name)", filters)
    fire["requestBody"] = {
        "content": {"application/octet-stream": {"schema": {"type": "string", "maxLength": 512}}}
    }
    none_here = "always [] here (no connect-capable services, no ingress gateways)"
    return {
        "/v1/health/connect/{name}": {
            "get": _op(f"Connect-capable instances: {none_here}", [_path("name")], indexed=True)
        },
        "/v1/health/ingress/{name}": {
            "get": _op(f"Ingress gateways: {none_here}", [_path("name")], indexed=True)
        },
        "/v1/coordinate/nodes": {"get": _op("Network coordinates of the nodes", indexed=True)},
        "/v1/coordinate/node/{node}": {
            "get": _op("A node's network coordinate", [_path("node")], indexed=True)
        },
        "/v1/coordinate/datacenters": {"get": _op("WAN coordinates of the servers")},
        "/v1/agent/host": {"get": _op("The host: Memory, CPU, Host, Disk (gopsutil's names)")},
        "/v1/event/fire/{name}": {"put": fire},
        "/v1/event/list": {
            "get": _op("The last 256 user events", [*_BLOCKING, _query("name", _STR)], indexed=True)
        },
        "/v1/query": {
            "get": _op("Prepared queries: always []", indexed=True),
            "post": _op("Prepared queries are not supported: 400"),
        },
    }
