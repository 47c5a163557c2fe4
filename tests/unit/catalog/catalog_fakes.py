"""A fake health checker and a store/API factory for the catalog's unit tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from leapfrog.catalog._acl import AclConfig, Authorizer, NamedToken
from leapfrog.catalog._acl_enforce import AclGuard
from leapfrog.catalog._acl_routes import acl_routes
from leapfrog.catalog._agent_health import agent_health_routes
from leapfrog.catalog._agent_routes import agent_routes
from leapfrog.catalog._api import Api, Call, request_token
from leapfrog.catalog._catalog_routes import catalog_routes
from leapfrog.catalog._connect_ca import CertificateAuthority
from leapfrog.catalog._connect_routes import DefaultPolicy, connect_routes
from leapfrog.catalog._httpparse import Request, RequestParser
from leapfrog.catalog._httpserver import Deferred, Response
from leapfrog.catalog._journal import Journal
from leapfrog.catalog._kv_routes import kv_routes
from leapfrog.catalog._metrics import metrics_routes
from leapfrog.catalog._persist import restore_store
from leapfrog.catalog._read_routes import read_routes
from leapfrog.catalog._session_routes import session_routes
from leapfrog.catalog._store import Store
from leapfrog.catalog._txn_routes import txn_routes
from leapfrog.catalog.checks.api import CheckDefinition, NotTTL, Status

READS = (
    "/v1/agent/checks",
    "/v1/agent/services",
    "/v1/health/state/any",
    "/v1/health/node/node1",
    "/v1/health/service/web",
    "/v1/catalog/service/web",
    "/v1/catalog/services",
    "/v1/session/list",
)
"""Reads over every service and check: a stored bad value would break one of them."""


class FakeChecker:
    def __init__(self) -> None:
        self.running: dict[str, CheckDefinition] = {}
        self.ttl_updates: list[tuple[str, Status, str]] = []

    def add(self, definition: CheckDefinition, status: Status) -> None:
        self.running[definition.check_id] = definition

    def remove(self, check_id: str) -> None:
        self.running.pop(check_id, None)

    def ttl_update(self, check_id: str, status: Status, output: str) -> None:
        definition = self.running.get(check_id)
        if definition is None or definition.kind != "ttl":
            raise NotTTL(check_id)
        self.ttl_updates.append((check_id, status, output))

    async def close(self) -> None:
        self.running.clear()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_store(data_dir: Path | None = None, clock: Clock | None = None) -> Store:
    journal = Journal(data_dir) if data_dir is not None else None
    store = Store("dc1", "node1", "127.0.0.1", journal, clock=clock or Clock())
    if journal is not None:
        snapshot, records = journal.load()
        restore_store(store, snapshot, records, journal.quarantine)
        journal.open()
    store.ensure_node()
    return store


def make_api(
    store: Store,
    token: str | None = None,
    anonymous_read: bool = True,
    tokens: tuple[NamedToken, ...] = (),
    *,
    ca: CertificateAuthority | None = None,
    intention_policy: str | None = None,
) -> Api:
    """`token`: the management token (None: ACL off); `tokens`: more, with their rules;
    `ca`: serve the service-mesh API (CA and intentions) too."""
    acl = AclConfig(token, tokens, anonymous_read) if token is not None else None
    guard = AclGuard(store, acl) if acl is not None else None

    def who(call: Call) -> Authorizer:
        assert guard is not None
        return guard.resolve(request_token(call.request))

    routes = agent_routes(store, {"Config": {}, "Member": {}}) + read_routes(store)
    routes += kv_routes(store.kv, store.sessions) + session_routes(store)
    routes += catalog_routes(store) + agent_health_routes(store) + acl_routes(store, acl, who)
    routes += txn_routes(store)
    if ca is not None:
        routes += connect_routes(store, ca, DefaultPolicy(intention_policy, acl is not None))
    served: list[Api] = []
    routes += metrics_routes(store, lambda: served[0].requests_served)
    served.append(Api(store, routes, guard))
    return served[0]


def request(method: str, target: str, body: bytes = b"", **headers: str) -> Request:
    lines = [f"{method} {target} HTTP/1.1", f"Content-Length: {len(body)}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    (parsed,) = RequestParser().feed(raw)
    assert isinstance(parsed, Request)
    return parsed


async def call(api: Api, method: str, target: str, body: bytes = b"", **headers: str) -> Response:
    """The answer as a client gets it: a blocking read's deferred answer is waited for
    (and cancelled if this call is)."""
    answer = await api.handle(request(method, target, body, **headers))
    if not isinstance(answer, Deferred):
        return answer
    future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
    answer.start(future.set_result)
    try:
        return await future
    except asyncio.CancelledError:
        answer.cancel()
        raise


def header(response: Response, name: str) -> str | None:
    return next((v for k, v in response.headers if k.lower() == name.lower()), None)
