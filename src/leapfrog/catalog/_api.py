"""Dispatch of HTTP API calls: ACL, common query flags, blocking queries, JSON replies."""

from __future__ import annotations

import hmac
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from leapfrog.catalog._body import BadRequest
from leapfrog.catalog._godur import parse_go_duration
from leapfrog.catalog._httpparse import Request
from leapfrog.catalog._httpserver import Response
from leapfrog.catalog._params import query_uint
from leapfrog.catalog._replycache import ReplyCache
from leapfrog.catalog._store import Store

__all__ = ["Api", "Call", "Query", "Reply", "Route", "blocking_params", "go_bool", "request_token"]

DEFAULT_WAIT = 300.0
MAX_WAIT = 600.0
_WRITES = {"PUT", "POST", "DELETE"}


@dataclass
class Reply:
    data: Any = None
    status: int = 200
    index: int | None = None
    raw: bytes | None = None
    """A body sent as is (text/plain unless `content_type` says otherwise)."""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    """Extra response headers (X-Consul-ContentHash, ...)."""


@dataclass
class Call:
    request: Request
    rest: str
    """The path after the route's prefix, already URL-decoded."""

    @property
    def params(self) -> Mapping[str, str]:
        """Query parameters: read them here (or through `flag`/`values`), never from
        `request.query`, so the reply cache knows which ones changed the answer."""
        return self.request.params

    def flag(self, name: str) -> bool:
        return name in self.request.params

    def values(self, name: str) -> list[str]:
        return self.request.values(name)


class Query(Protocol):
    """A blocking read: what it waits on, its index, and its reply."""

    def validate(self, call: Call) -> None:
        """Raise BadRequest before blocking, not after."""
        ...

    def watch(self, call: Call) -> tuple[tuple[str, ...], str | None]: ...

    def index(self, call: Call) -> int: ...

    def reply(self, call: Call) -> Reply: ...


Action = Callable[[Call], Awaitable[Reply]]


@dataclass
class Route:
    methods: tuple[str, ...]
    path: str
    prefix: bool = False
    action: Action | None = None
    query: Query | None = None
    write: bool = field(default=False)


def go_bool(text: str) -> bool | None:
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


class Api:
    def __init__(
        self, store: Store, routes: list[Route], token: str | None, anonymous_read: bool
    ) -> None:
        self.store = store
        self._exact = {r.path: r for r in routes if not r.prefix}
        self._prefixes = sorted((r for r in routes if r.prefix), key=lambda r: -len(r.path))
        self._token = token
        self._anonymous_read = anonymous_read
        self.cache = ReplyCache()
        self.requests_served = 0
        """Requests answered since start (a metric)."""

    async def handle(self, request: Request) -> Response:
        self.requests_served += 1
        try:
            route, rest = self._route(request.path)
            if route is None:
                return Response.text(404, "404 page not found")
            method = "GET" if request.method == "HEAD" else request.method
            if method not in route.methods:
                return Response.text(405, f"method {request.method} not allowed")
            self._authorize(request, write=method in _WRITES)
            call = Call(request, rest)
            self._common(call)
            if route.query is not None and method == "GET":
                return await self._blocking(call, route.query)
            assert route.action is not None
            reply = await route.action(call)
            if method in _WRITES:
                await self.store.log.committed()
            return self._response(call, reply)
        except BadRequest as exc:
            return Response.text(exc.status, exc.text)

    def _route(self, path: str) -> tuple[Route | None, str]:
        route = self._exact.get(path)
        if route is not None:
            return route, ""
        for candidate in self._prefixes:
            if path.startswith(candidate.path):
                return candidate, path[len(candidate.path) :]
        return None, ""

    def _authorize(self, request: Request, write: bool) -> None:
        if self._token is None:
            return
        token = request_token(request)
        if token:
            if not hmac.compare_digest(token.encode(), self._token.encode()):
                raise BadRequest("ACL not found", 403)
            return
        if write or not self._anonymous_read:
            raise BadRequest("Permission denied", 403)

    def _common(self, call: Call) -> None:
        params = call.params
        dc = params.get("dc")
        if dc and dc != self.store.datacenter:
            raise BadRequest("No path to datacenter", 500)
        if "stale" in params and "consistent" in params:
            raise BadRequest("Cannot specify ?stale with ?consistent, conflicting semantics.")

    async def _blocking(self, call: Call, query: Query) -> Response:
        wanted, wait = blocking_params(call)
        params = call.request.params
        params.read = set()  # from here on: what the answer depends on
        query.validate(call)
        index = query.index(call)
        if wanted and index <= wanted:
            deadline = time.monotonic() + wait
            topics, prefix = query.watch(call)
            while index <= wanted:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                await self.store.hub.wait(topics, prefix, remaining)
                index = query.index(call)
        # With ACL on, what a token may see can differ: answers are kept per token.
        token = request_token(call.request) if self._token is not None else ""
        cached = self.cache.get(call.request, token, index)
        if cached is not None:
            return cached
        reply = query.reply(call)
        reply.index = index
        response = self._response(call, reply)
        if response.status == 200:
            response.encoded = response.encode(close=False)
            self.cache.put(call.request, token, params.read, index, response)
        return response

    def _response(self, call: Call, reply: Reply) -> Response:
        headers = _index_headers(reply.index) if reply.index is not None else []
        headers += reply.headers
        if reply.raw is not None:
            return Response(reply.status, reply.raw, reply.content_type, headers)
        if "pretty" in call.params:
            body = json.dumps(reply.data, indent=4) + "\n"
        else:
            body = json.dumps(reply.data, separators=(",", ":"))
        return Response(reply.status, body.encode(), "application/json", headers)


def request_token(request: Request) -> str:
    """The request's ACL token: X-Consul-Token, then Authorization: Bearer, then ?token=."""
    token = request.headers.get("x-consul-token", "")
    if not token:
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
    return token or request.params.get("token", "")


def _index_headers(index: int) -> list[tuple[str, str]]:
    return [
        ("X-Consul-Index", str(index)),
        ("X-Consul-KnownLeader", "true"),
        ("X-Consul-LastContact", "0"),
    ]


def blocking_params(call: Call) -> tuple[int, float]:
    """?index (0 when absent) and ?wait (Go duration, default 5m, capped, plus jitter)."""
    wanted = 0
    if call.params.get("index"):  # `?index=` (empty) is no index, as in Consul
        wanted = query_uint(call.params, "index") or 0
    wait = DEFAULT_WAIT
    raw_wait = call.params.get("wait")
    if raw_wait:
        try:
            wait = parse_go_duration(raw_wait)
        except ValueError:
            raise BadRequest("Invalid wait time") from None
        if wait <= 0:
            wait = DEFAULT_WAIT
    wait = min(wait, MAX_WAIT)
    return wanted, wait + random.uniform(0, wait / 16)
