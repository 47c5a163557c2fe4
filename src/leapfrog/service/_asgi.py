"""The ASGI middleware every service runs behind: the health endpoints, /metrics, and
per-route request metrics. Plain ASGI, so it wraps Starlette, FastAPI or any ASGI app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from time import perf_counter
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from leapfrog.service._health import Health
from leapfrog.service._metrics import RequestMetrics, RouteStats

__all__ = ["ASGIApp", "PlatformMiddleware", "RouteNames"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_MAX_ROUTES = 200


class RouteNames:
    """The metric label of a request: the matching route's template for Starlette/FastAPI
    apps (`/items/{id}`), else the path itself for the first distinct paths and `other`
    after, so a scanner cannot blow up the number of series."""

    def __init__(self, app: object) -> None:
        self._routes = list(getattr(app, "routes", None) or [])
        self._known: dict[str, str] = {}

    def __call__(self, scope: Scope) -> str:
        path: str = scope["path"]
        name = self._known.get(path)
        if name is not None:
            return name
        name = self._resolve(scope)
        if len(self._known) < _MAX_ROUTES * 5:
            self._known[path] = name
        return name

    def _resolve(self, scope: Scope) -> str:
        if self._routes:
            from starlette.routing import Match

            for route in self._routes:
                try:
                    match, _ = route.matches(scope)
                except Exception:
                    continue
                if match != Match.NONE:
                    return str(getattr(route, "path", None) or getattr(route, "name", "other"))
            return "unmatched"
        distinct = set(self._known.values())
        return scope["path"] if len(distinct) < _MAX_ROUTES else "other"


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class PlatformMiddleware:
    """Answers GET /health/hostname, /health/live, /health/ready and /metrics itself;
    measures everything else."""

    def __init__(
        self, app: ASGIApp, *, health: Health, metrics: RequestMetrics, hostname: str
    ) -> None:
        self.app = app
        self.health = health
        self.metrics = metrics
        self.hostname = hostname.encode()
        self.routes = RouteNames(app)
        self._stats: dict[tuple[str, str], RouteStats] = {}
        """(method, path) -> its route's numbers, for the first distinct paths."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The hot path: one dict lookup finds the route's numbers (the built-in paths are
        # never in it), and the status is read by a plain function handing back the
        # server's own awaitable (no extra coroutine per message). The rest (the route's
        # template, metric families) is paid on a path's first request or by /metrics.
        key = (scope["method"], scope["path"])
        stats = self._stats.get(key)
        if stats is None:
            path: str = key[1]
            if (path.startswith("/health/") or path == "/metrics") and await self._builtin(
                path, send
            ):
                return
            stats = self._route_stats(scope, key)
        stats.in_flight += 1
        status = 500

        def send_status(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        started = perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            stats.finished(status, perf_counter() - started)

    def _route_stats(self, scope: Scope, key: tuple[str, str]) -> RouteStats:
        stats = self.metrics.route(key[0], self.routes(scope))
        if len(self._stats) < _MAX_ROUTES * 5:
            self._stats[key] = stats
        return stats

    async def _builtin(self, path: str, send: Send) -> bool:
        text = b"text/plain; charset=utf-8"
        if path == "/health/hostname":
            await _respond(send, 200, self.hostname, text)
        elif path == "/health/live":
            await _respond(send, 200, b"live", text)
        elif path == "/health/ready":
            status, reason = self.health.effective()
            code = {"passing": 200, "warning": 429, "critical": 503}[status]
            await _respond(send, code, (reason or status).encode(), text)
        elif path == "/metrics":
            body = generate_latest(self.metrics.registry)
            await _respond(send, 200, body, CONTENT_TYPE_LATEST.encode())
        else:
            return False
        return True
