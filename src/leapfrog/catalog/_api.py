"""Dispatch of HTTP API calls: ACL, common query flags, blocking queries, JSON replies."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from leapfrog.catalog._body import BadRequest
from leapfrog.catalog._godur import parse_go_duration
from leapfrog.catalog._httpparse import QueryParams, Request
from leapfrog.catalog._httpserver import Deferred, Response
from leapfrog.catalog._params import query_uint
from leapfrog.catalog._replycache import ReplyCache
from leapfrog.catalog._store import Store
from leapfrog.catalog._watch import Parked

if TYPE_CHECKING:  # _acl_enforce reads Call and Reply from here
    from leapfrog.catalog._acl import Authorizer
    from leapfrog.catalog._acl_enforce import AclGuard

log = logging.getLogger("leapfrog.catalog")

__all__ = ["Api", "Call", "Query", "Reply", "Route", "blocking_params", "go_bool", "request_token"]

DEFAULT_WAIT = 300.0
MAX_WAIT = 600.0
_WRITES = {"PUT", "POST", "DELETE"}
FILTERED_HEADER = "X-Consul-Results-Filtered-By-ACLs"


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
    def __init__(self, store: Store, routes: list[Route], acl: AclGuard | None = None) -> None:
        """`acl`: None turns ACL off (every caller may do everything)."""
        self.store = store
        self._exact = {r.path: r for r in routes if not r.prefix}
        self._prefixes = sorted((r for r in routes if r.prefix), key=lambda r: -len(r.path))
        self._acl = acl
        self.cache = ReplyCache()
        self.requests_served = 0
        """Requests answered since start (a metric)."""

    async def handle(self, request: Request) -> Response | Deferred:
        self.requests_served += 1
        try:
            route, rest = self._route(request.path)
            if route is None:
                return Response.text(404, "404 page not found")
            method = "GET" if request.method == "HEAD" else request.method
            if method not in route.methods:
                return Response.text(405, f"method {request.method} not allowed")
            call = Call(request, rest)
            authz = None
            if self._acl is not None:
                authz = self._acl.resolve(request_token(request))
                refusal = self._acl.check(authz, route.path, call, method)
                if refusal is not None:
                    return self._response(call, refusal)
            self._common(call)
            if route.query is not None and method == "GET":
                return self._blocking(call, route, authz)
            assert route.action is not None
            reply = await route.action(call)
            if method in _WRITES:
                await self.store.log.committed()
            if authz is not None:  # a transaction's reads too, though it is a PUT
                await self._acl_filter(authz, route, call, reply)
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

    async def _acl_filter(self, authz: Authorizer, route: Route, call: Call, reply: Reply) -> None:
        """Drop what the token may not read; tell a caller with a token that something
        was dropped (never an anonymous one, as Consul does). The telling ignores
        ?filter, so it cannot reveal what hidden records hold."""
        if route.query is not None:
            self._acl_filter_read(authz, route, route.query, call, reply)
            return
        assert self._acl is not None and route.action is not None
        hidden = self._acl.filter(authz, route.path, call, reply)
        if not request_token(call.request):
            return
        if _refilter(call):
            # Answered again without ?filter: a read, so running it twice changes nothing.
            unfiltered = _without_filter(call)
            whole = await route.action(unfiltered)
            hidden = self._acl.filter(authz, route.path, unfiltered, whole)
        if hidden:
            reply.headers.append((FILTERED_HEADER, "true"))

    def _acl_filter_read(
        self, authz: Authorizer, route: Route, query: Query, call: Call, reply: Reply
    ) -> None:
        """`_acl_filter` of a blocking read, which needs no await."""
        assert self._acl is not None
        hidden = self._acl.filter(authz, route.path, call, reply)
        if not request_token(call.request):
            return
        if _refilter(call):
            unfiltered = _without_filter(call)
            hidden = self._acl.filter(authz, route.path, unfiltered, query.reply(unfiltered))
        if hidden:
            reply.headers.append((FILTERED_HEADER, "true"))

    def _common(self, call: Call) -> None:
        params = call.params
        dc = params.get("dc")
        if dc and dc != self.store.datacenter:
            raise BadRequest("No path to datacenter", 500)
        if "stale" in params and "consistent" in params:
            raise BadRequest("Cannot specify ?stale with ?consistent, conflicting semantics.")

    def _blocking(self, call: Call, route: Route, authz: Authorizer | None) -> Response | Deferred:
        query = route.query
        assert query is not None
        wanted, wait = blocking_params(call)
        read_headers = _read_headers(call)
        call.request.params.read = set()  # from here on: what the answer depends on
        query.validate(call)
        index = query.index(call)
        read = _Read(self, call, route, query, authz, read_headers)
        if wanted and index <= wanted:
            # No coroutine waits: the hub calls the read back, which answers from there.
            return _Waiting(read, wanted, time.monotonic() + wait)
        return read.answer(index)

    def _response(self, call: Call, reply: Reply) -> Response:
        headers = _index_headers(reply.index) if reply.index is not None else []
        headers += reply.headers
        # Consul's agent names its ACL default policy on every answer ("allow" with ACL off).
        headers.append(("X-Consul-Default-Acl-Policy", "allow" if self._acl is None else "deny"))
        if reply.raw is not None:
            return Response(reply.status, reply.raw, reply.content_type, headers)
        if "pretty" in call.params:
            body = json.dumps(reply.data, indent=4) + "\n"
        else:
            body = json.dumps(reply.data, separators=(",", ":"))
        return Response(reply.status, body.encode(), "application/json", headers)


@dataclass
class _Read:
    """A blocking read, answered at an index (from the reply cache when it can be)."""

    api: Api
    call: Call
    route: Route
    query: Query
    authz: Authorizer | None
    read_headers: list[tuple[str, str]]
    viewer: str = field(init=False)
    exact: tuple[str, str, tuple[tuple[str, str], ...]] = field(init=False)

    def __post_init__(self) -> None:
        # Answers differ by token (each token's are kept apart) and by the headers Consul
        # adds for the kind of read (its backend, its consistency). Worked out once: a
        # parked read may be woken many times, a thousand of them by one change.
        self.viewer = "#".join(
            [self.authz.cache_key if self.authz else "", *(v for _, v in self.read_headers)]
        )
        self.exact = self.api.cache.exact_key(self.call.request, self.viewer)

    def answer(self, index: int) -> Response:
        api, call, request, viewer = self.api, self.call, self.call.request, self.viewer
        cached = api.cache.get(request, viewer, index, self.exact)
        if cached is not None:
            return cached
        reply = self.query.reply(call)
        reply.index = index
        if self.authz is not None:
            api._acl_filter_read(self.authz, self.route, self.query, call, reply)
        reply.headers += self.read_headers
        response = api._response(call, reply)
        if response.status == 200:
            response.encoded = response.encode(close=False)
            api.cache.put(request, viewer, request.params.read, index, response)
        return response


class _Waiting(Deferred):
    """A blocking read parked in the hub until its index passes `wanted` or its time is
    up; then it answers from the hub's callback (`_wake`), not from a resumed coroutine."""

    __slots__ = ("_deadline", "_deliver", "_parked", "_read", "_wanted")

    def __init__(self, read: _Read, wanted: int, deadline: float) -> None:
        self._read = read
        self._wanted = wanted
        self._deadline = deadline
        self._deliver: Callable[[Response], None] | None = None
        self._parked: Parked | None = None

    def start(self, deliver: Callable[[Response], None]) -> None:
        self._deliver = deliver
        self._park()

    def cancel(self) -> None:
        self._deliver = None
        if self._parked is not None:
            self._parked.cancel()

    def _park(self) -> None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            self._wake()
            return
        topics, prefix = self._read.query.watch(self._read.call)
        self._parked = self._read.api.store.hub.park(topics, prefix, remaining, self._wake)

    def _wake(self) -> None:
        deliver = self._deliver
        if deliver is None:
            return
        read = self._read
        try:
            index = read.query.index(read.call)
            if index <= self._wanted and self._deadline - time.monotonic() > 0:
                self._park()  # a hint only: its index did not rise
                return
            response = read.answer(index)
        except BadRequest as exc:
            response = Response.text(exc.status, exc.text)
        except Exception:
            log.exception("blocking read of %s failed", read.call.request.path)
            response = Response.text(500, "Internal error")
        self._deliver = None
        deliver(response)


def _refilter(call: Call) -> bool:
    return "filter" in call.params and call.request.method in ("GET", "HEAD")


def request_token(request: Request) -> str:
    """The request's ACL token: X-Consul-Token, then Authorization: Bearer, then ?token=."""
    token = request.headers.get("x-consul-token", "")
    if not token:
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
    return token or request.params.get("token", "")


def _without_filter(call: Call) -> Call:
    request = call.request
    params = QueryParams()
    params.update((k, v) for k, v in request.params.items() if k != "filter")
    query = [(k, v) for k, v in request.query if k != "filter"]
    return Call(replace(request, params=params, query=query), call.rest)


def _index_headers(index: int) -> list[tuple[str, str]]:
    return [
        ("X-Consul-Index", str(index)),
        ("X-Consul-KnownLeader", "true"),
        ("X-Consul-LastContact", "0"),
    ]


def _read_headers(call: Call) -> list[tuple[str, str]]:
    """What Consul's blocking reads add: the backend that answered and, for catalog and
    health reads, the consistency mode the answer has."""
    path = call.request.path
    params = call.params
    # Consul 1.20 answers health/service from its streaming backend when the request
    # blocks (?index > 0) or asks for the agent cache.
    streamed = path.startswith("/v1/health/service/") and (
        params.get("index", "0").strip("0") != "" or "cached" in params
    )
    headers = [("X-Consul-Query-Backend", "streaming" if streamed else "blocking-query")]
    if path.startswith(("/v1/catalog/", "/v1/health/")):
        mode = (
            "consistent" if "consistent" in params else "stale" if "stale" in params else "leader"
        )
        headers.append(("X-Consul-Effective-Consistency", mode))
    return headers


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
