"""The OpenAPI 3 description of the served API, at GET /v1/leapfrog/openapi.json.

Written by hand from the routes (one entry per operation) so it documents Consul's
shapes and leapfrog's limits; the schema-driven fuzz test reads it from the live server.
"""

from __future__ import annotations

from typing import Any

from leapfrog.catalog._api import Call, Reply, Route

__all__ = ["openapi_document", "openapi_routes"]

_STR = {"type": "string"}
_INT = {"type": "integer", "minimum": 0}
_BOOL_TEXT = {"type": "string", "description": "Go boolean: 1, t, true, True, 0, f, false"}
_DURATION = {"type": "string", "description": "Go duration, e.g. 10s, 1m30s, 120000ms"}
_STR_MAP = {"type": "object", "additionalProperties": _STR}


def _query(name: str, schema: dict[str, Any], text: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": text}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _STR}


_DC = _query("dc", _STR, "Only the local datacenter; any other is 500 No path to datacenter")
_PRETTY = _query("pretty", _STR, "Indent the JSON answer")
_FILTER = _query("filter", _STR, "bexpr subset: ==, !=, in, contains, matches, and/or/not")
_BLOCKING = [
    _query("index", _INT, "Block until the result's index is higher"),
    _query("wait", _DURATION, "At most this long (default 5m, at most 10m, plus jitter)"),
    _query("stale", _STR),
    _query("consistent", _STR),
]
_CHECK = {
    "type": "object",
    "description": "Keys match case-insensitively with '_' removed. One of HTTP, TCP, TTL.",
    "properties": {
        "CheckID": _STR,
        "ID": _STR,
        "Name": _STR,
        "Notes": _STR,
        "Status": {"type": "string", "enum": ["passing", "warning", "critical"]},
        "ServiceID": _STR,
        "HTTP": _STR,
        "Method": _STR,
        "Header": {"type": "object", "additionalProperties": {"type": "array", "items": _STR}},
        "Body": _STR,
        "TLSSkipVerify": {"type": "boolean"},
        "TCP": {"type": "string", "description": "host:port"},
        "TTL": _DURATION,
        "Interval": _DURATION,
        "Timeout": _DURATION,
        "DeregisterCriticalServiceAfter": _DURATION,
        "SuccessBeforePassing": _INT,
        "FailuresBeforeWarning": _INT,
        "FailuresBeforeCritical": _INT,
        "OutputMaxSize": _INT,
    },
}
_SERVICE = {
    "type": "object",
    "required": ["Name"],
    "properties": {
        "Name": _STR,
        "ID": _STR,
        "Tags": {"type": "array", "items": _STR},
        "Address": _STR,
        "Port": {"type": "integer", "minimum": 0, "maximum": 65535},
        "Meta": _STR_MAP,
        "TaggedAddresses": {"type": "object"},
        "Weights": {"type": "object", "properties": {"Passing": _INT, "Warning": _INT}},
        "EnableTagOverride": {"type": "boolean"},
        "Check": _CHECK,
        "Checks": {"type": "array", "items": _CHECK},
    },
}
_CHECK_UPDATE = {
    "type": "object",
    "properties": {"Status": _CHECK["properties"]["Status"], "Output": _STR},  # type: ignore[index]
}
_SESSION = {
    "type": "object",
    "description": "All optional. Keys match case-insensitively. Node: this agent's node.",
    "properties": {
        "Name": _STR,
        "Node": _STR,
        "LockDelay": {
            "description": "Go duration or nanoseconds (under 1000: seconds); default 15s",
            "oneOf": [_STR, {"type": "integer", "minimum": 0}],
        },
        "Behavior": {"type": "string", "enum": ["release", "delete"]},
        "TTL": {"type": "string", "description": "Go duration, 10s to 24h; expires after 2x"},
        "Checks": {"type": "array", "items": _STR, "description": "Deprecated: check IDs"},
        "NodeChecks": {"type": "array", "items": _STR, "description": "Default: serfHealth"},
        "ServiceChecks": {
            "type": "array",
            "items": {"type": "object", "properties": {"ID": _STR, "Namespace": _STR}},
        },
    },
}
_ERROR = {"description": "Error text", "content": {"text/plain": {"schema": _STR}}}


def _op(
    summary: str,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    raw_body: bool = False,
    indexed: bool = False,
) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK", "content": {"application/json": {"schema": {}}}}
    if indexed:
        ok["headers"] = {
            "X-Consul-Index": {"schema": _INT},
            "X-Consul-KnownLeader": {"schema": _STR},
            "X-Consul-LastContact": {"schema": _STR},
        }
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [_DC, _PRETTY, *(params or [])],
        "responses": {"200": ok, "400": _ERROR, "403": _ERROR, "404": _ERROR, "500": _ERROR},
    }
    if body is not None:
        operation["requestBody"] = {"content": {"application/json": {"schema": body}}}
    if raw_body:
        operation["requestBody"] = {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "maxLength": 524288}}
            }
        }
        operation["responses"]["413"] = _ERROR
    return operation


def _paths() -> dict[str, Any]:
    blocking = [*_BLOCKING, _FILTER]
    tagged = [*blocking, _query("tag", _STR), _query("node-meta", _STR, "key:value")]
    enable = [_query("enable", _BOOL_TEXT), _query("reason", _STR)]
    note = [_query("note", _STR)]
    kv_get = [*_BLOCKING, *(_query(f, _STR) for f in ("recurse", "keys", "raw", "separator"))]
    kv_put = [_query("flags", _INT), _query("cas", _INT)]
    kv_put += [
        _query("acquire", _STR, "Session ID: lock the key (true, or false if held/delayed)"),
        _query("release", _STR, "Session ID: unlock the key (false unless it holds it)"),
    ]
    kv_delete = [_query("recurse", _STR), _query("cas", _INT)]
    return {
        "/v1/agent/self": {"get": _op("The agent's configuration and member")},
        "/v1/agent/members": {"get": _op("The cluster members (this node)")},
        "/v1/agent/services": {"get": _op("Local services by ID", [_FILTER])},
        "/v1/agent/checks": {"get": _op("Local checks by CheckID", [_FILTER])},
        "/v1/agent/service/register": {
            "put": _op(
                "Register a service",
                [_query("replace-existing-checks", _BOOL_TEXT)],
                body=_SERVICE,
            )
        },
        "/v1/agent/service/deregister/{id}": {"put": _op("Deregister", [_path("id")])},
        "/v1/agent/service/maintenance/{id}": {
            "put": _op("Service maintenance mode", [_path("id"), *enable])
        },
        "/v1/agent/maintenance": {"put": _op("Node maintenance mode", enable)},
        "/v1/agent/check/register": {"put": _op("Register a check", body=_CHECK)},
        "/v1/agent/check/deregister/{id}": {"put": _op("Deregister a check", [_path("id")])},
        "/v1/agent/check/pass/{id}": {"put": _op("TTL heartbeat: passing", [_path("id"), *note])},
        "/v1/agent/check/warn/{id}": {"put": _op("TTL heartbeat: warning", [_path("id"), *note])},
        "/v1/agent/check/fail/{id}": {"put": _op("TTL heartbeat: critical", [_path("id"), *note])},
        "/v1/agent/check/update/{id}": {
            "put": _op("TTL status and output", [_path("id")], body=_CHECK_UPDATE)
        },
        "/v1/health/service/{name}": {
            "get": _op(
                "Instances with node and checks",
                [_path("name"), *tagged, _query("passing", _BOOL_TEXT)],
                indexed=True,
            )
        },
        "/v1/health/checks/{name}": {
            "get": _op("Checks of a service", [_path("name"), *blocking], indexed=True)
        },
        "/v1/health/state/{state}": {
            "get": _op(
                "Checks in a state (any, passing, warning, critical)",
                [_path("state"), *blocking],
                indexed=True,
            )
        },
        "/v1/health/node/{node}": {
            "get": _op("Checks of a node", [_path("node"), *blocking], indexed=True)
        },
        "/v1/catalog/services": {"get": _op("Service names and tags", blocking, indexed=True)},
        "/v1/catalog/service/{name}": {
            "get": _op("Instances, flat", [_path("name"), *tagged], indexed=True)
        },
        "/v1/catalog/nodes": {"get": _op("Nodes", blocking, indexed=True)},
        "/v1/catalog/node/{node}": {
            "get": _op("A node and its services", [_path("node"), *blocking], indexed=True)
        },
        "/v1/catalog/datacenters": {"get": _op("Datacenters")},
        "/v1/kv/{key}": {
            "get": _op("Read keys", [_path("key"), *kv_get], indexed=True),
            "put": _op("Write a key (up to 512 KiB)", [_path("key"), *kv_put], raw_body=True),
            "delete": _op("Delete keys", [_path("key"), *kv_delete]),
        },
        "/v1/session/create": {"put": _op("Create a session: {ID}", body=_SESSION)},
        "/v1/session/destroy/{id}": {"put": _op("Invalidate a session", [_path("id")])},
        "/v1/session/renew/{id}": {
            "put": _op("Restart a session's TTL; 404 if unknown", [_path("id")])
        },
        "/v1/session/info/{id}": {
            "get": _op("One session ([] if unknown)", [_path("id"), *_BLOCKING], indexed=True)
        },
        "/v1/session/node/{node}": {
            "get": _op("Sessions of a node", [_path("node"), *_BLOCKING], indexed=True)
        },
        "/v1/session/list": {"get": _op("All sessions", _BLOCKING, indexed=True)},
        "/v1/status/leader": {"get": _op("The leader's address")},
        "/v1/status/peers": {"get": _op("The raft peers")},
        "/v1/leapfrog/openapi.json": {"get": _op("This document")},
        **_more_paths(),
    }


def _more_paths() -> dict[str, Any]:
    from leapfrog.catalog._openapi_more import more_paths  # it imports this module's parts

    return more_paths()


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "leapfrog catalog (Consul-compatible HTTP API)",
            "version": "1",
            "description": "A single-node Consul agent API, as leapfrog serves it.",
        },
        "components": {
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "X-Consul-Token"},
                "bearer": {"type": "http", "scheme": "bearer"},
            }
        },
        "security": [{}, {"token": []}, {"bearer": []}],
        "paths": _paths(),
    }


def openapi_routes() -> list[Route]:
    document = openapi_document()

    async def serve_document(call: Call) -> Reply:
        return Reply(document)

    return [Route(("GET",), "/v1/leapfrog/openapi.json", action=serve_document)]
