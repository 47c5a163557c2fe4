"""/v1/session/*: create, destroy, renew (writes) and info, node, list (blocking reads).

Errors keep Consul's texts and statuses: what Consul's HTTP layer rejects (a body that
does not decode) is a 400, what its session RPC rejects (TTL, behavior, node, checks) a
500, and renewing an unknown session a 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leapfrog.catalog._api import Call, Reply, Route
from leapfrog.catalog._body import BadRequest, Fields, parse_json_object
from leapfrog.catalog._godur import parse_go_duration
from leapfrog.catalog._render import session_json
from leapfrog.catalog._sessions import SESSIONS, Session
from leapfrog.catalog._store import SERF_CHECK, Store

__all__ = ["session_routes"]

TTL_MIN = 10.0
TTL_MAX = 86400.0
_LOCK_DELAY_THRESHOLD = 1000e-9
"""Consul reads a lock delay under 1000 ns as seconds: clients send 15 meaning 15s."""


def _lock_delay(raw: object) -> float:
    if raw is None:
        return 15.0
    try:
        seconds = parse_go_duration(raw)
    except ValueError as exc:
        raise BadRequest(f"Request decode failed: time: {exc}") from None
    return seconds * 1e9 if 0 < seconds < _LOCK_DELAY_THRESHOLD else max(0.0, seconds)


def _ttl(fields: Fields) -> tuple[str, float]:
    text = fields.text("TTL")
    if not text:
        return "", 0.0
    try:
        seconds = parse_go_duration(text)
    except ValueError as exc:
        raise BadRequest(f"Session TTL '{text}' invalid: time: {exc}", 500) from None
    if seconds != 0 and not TTL_MIN <= seconds <= TTL_MAX:
        raise BadRequest(
            f"Invalid Session TTL '{round(seconds * 1e9)}', must be between [10s=24h0m0s]", 500
        )
    return text, seconds


def parse_session(store: Store, body: bytes) -> Session:
    """A new session from a create body (empty: all defaults), validated as Consul does."""
    fields = parse_json_object(body) if body.strip() else Fields({}, "body")
    node = fields.text("Node", default=store.node_name)
    if node.lower() != store.node_name.lower():
        raise BadRequest("Missing node registration", 500)
    behavior = fields.text("Behavior") or "release"
    if behavior not in ("release", "delete"):
        raise BadRequest(f"Invalid Behavior setting '{behavior}'", 500)
    ttl, ttl_seconds = _ttl(fields)
    node_checks, service_checks = _checks(store, fields)
    return Session(
        str(uuid.uuid4()),
        store.node_name,
        name=fields.text("Name"),
        behavior=behavior,
        lock_delay=_lock_delay(fields.raw("LockDelay")),
        ttl=ttl,
        ttl_seconds=ttl_seconds,
        node_checks=node_checks,
        service_checks=service_checks,
    )


def _checks(store: Store, fields: Fields) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not fields.has("Checks", "NodeChecks", "ServiceChecks"):
        return (SERF_CHECK,), ()
    node_checks = list(fields.str_list("NodeChecks"))
    service_checks: list[str] = []
    for item in fields.obj_list("ServiceChecks"):
        service_checks.append(item.text("ID"))
    for check_id in fields.str_list("Checks"):  # deprecated: node or service checks
        check = store.checks.get(check_id)
        target = service_checks if check is not None and check.service_id else node_checks
        if check_id not in target:
            target.append(check_id)
    for check_id in node_checks + service_checks:
        check = store.checks.get(check_id)
        if check is None:
            raise BadRequest(f"Missing check '{check_id}' registration", 500)
        if check.status == "critical":
            raise BadRequest(f"Check '{check_id}' is in critical state", 500)
    return tuple(node_checks), tuple(service_checks)


@dataclass
class _SessionQuery:
    store: Store
    build: Callable[[Call], list[dict[str, Any]]]
    missing: str = ""
    """The 400 text when the path's last part is empty ("" when there is none)."""

    def validate(self, call: Call) -> None:
        if self.missing and not call.rest:
            raise BadRequest(self.missing)

    def watch(self, call: Call) -> tuple[tuple[str, ...], str | None]:
        return (SESSIONS,), None

    def index(self, call: Call) -> int:
        return self.store.sessions.index()

    def reply(self, call: Call) -> Reply:
        return Reply(self.build(call))


def session_routes(store: Store) -> list[Route]:
    sessions = store.sessions

    async def create(call: Call) -> Reply:
        session = parse_session(store, call.request.body)
        sessions.create(session)
        return Reply({"ID": session.id})

    async def destroy(call: Call) -> Reply:
        if not call.rest:
            raise BadRequest("Missing session")
        sessions.destroy(call.rest)
        return Reply(True)

    async def renew(call: Call) -> Reply:
        if not call.rest:
            raise BadRequest("Missing session")
        session = sessions.renew(call.rest)
        if session is None:
            raise BadRequest(f"Session id '{call.rest}' not found", 404)
        return Reply([session_json(session)], index=sessions.index())

    def info(call: Call) -> list[dict[str, Any]]:
        found = sessions.get(call.rest)
        return [session_json(found)] if found else []

    def of_node(call: Call) -> list[dict[str, Any]]:
        return [session_json(s) for s in sessions.of_node(call.rest)]

    def listing(call: Call) -> list[dict[str, Any]]:
        return [session_json(s) for s in sessions.all()]

    put, get = ("PUT",), ("GET",)
    return [
        Route(put, "/v1/session/create", action=create),
        Route(put, "/v1/session/destroy/", True, action=destroy),
        Route(put, "/v1/session/renew/", True, action=renew),
        Route(get, "/v1/session/info/", True, query=_SessionQuery(store, info, "Missing session")),
        Route(
            get, "/v1/session/node/", True, query=_SessionQuery(store, of_node, "Missing node name")
        ),
        Route(get, "/v1/session/list", query=_SessionQuery(store, listing)),
    ]
