"""The routes of the default HAProxy template as a map, and its backends as a fixed pool.

A new service, or a new route, must not change the configuration's shape, or it costs a
reload (100-200 ms). So the frontend routes with one lookup in a map file, whose entries
the runtime API replaces (`prepare map`, `add map`, `commit map`), and the backends are a
pool of stable names (`be1`, `be2`, ...), each service keeping its own for as long as it
exists, with at least one free: a new service takes the free backend's server slots
through `set server`, and its route is a new map entry. Only a full pool (it then doubles)
or a deeper strip_prefix than the configuration handles needs a reload.

The map is a regular-expression map matched on `<host><path>?`, entries most specific
first (as `sort_routes` orders them): HAProxy tries them in the map's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leapfrog.lb._routes import Route, unique_routes
from leapfrog.lb._slots import SlotTable

__all__ = [
    "MIN_BACKENDS",
    "MIN_STRIP_DEPTH",
    "PoolBackend",
    "RoutePool",
    "RouteTable",
    "route_pattern",
    "strip_depth",
]

MIN_BACKENDS = 16
"""Backends of the pool at least: a stack with fewer services never waits for a reload
when one is added (an empty backend costs HAProxy a few hundred bytes)."""
MIN_STRIP_DEPTH = 8
"""Path segments a strip_prefix may remove without a reload (deeper ones add rules)."""
_POOL = "routes"
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_-")


def _literal(text: str) -> str:
    """`text` matched literally, every other character as an escape: the pattern holds no
    space, `#`, `;` or quote that a map file or the runtime API would read otherwise."""
    return "".join(c if c in _PLAIN else "\\." if c == "." else f"\\x{{{ord(c):x}}}" for c in text)


def route_pattern(route: Route) -> str:
    """The regular expression a route's requests match, as `<host><path>?`."""
    host = route.host.lower()
    if not host:
        head = "^[^/]*"
    elif host.startswith("*."):
        head = "^[^/]+" + _literal(host[1:])
    else:
        head = "^" + _literal(host)
    path = route.path if route.path and route.path != "/" else ""
    if not path:
        return head + "/"
    if path.endswith("/"):
        return head + _literal(path)
    return head + _literal(path) + "(\\?|/)"


def strip_depth(route: Route) -> int:
    """Path segments strip_prefix removes (0: none)."""
    if not route.strip_prefix or route.path in ("", "/"):
        return 0
    return len([part for part in route.path.split("/") if part])


@dataclass(frozen=True)
class PoolBackend:
    name: str
    route: Route | None
    """The service's route it serves, None while free."""


@dataclass(frozen=True)
class RouteTable:
    backends: tuple[PoolBackend, ...]
    entries: tuple[tuple[str, str], ...]
    """(pattern, `backend:strip depth:service`), most specific first."""
    strip_depth: int
    """The deepest strip the configuration must handle, at least MIN_STRIP_DEPTH."""


class RoutePool:
    """Stable pool backends across renders (one per Template)."""

    def __init__(self, minimum: int = MIN_BACKENDS) -> None:
        self._table = SlotTable(minimum)

    def table(self, routes: Sequence[Route]) -> RouteTable:
        """`routes` sorted (most specific first): their map entries and pool backends."""
        by_name = {r.name: r for r in routes}
        names = self._table.assign(_POOL, sorted(by_name), free=1)
        backends = tuple(
            PoolBackend(f"be{i}", by_name[name] if name is not None else None)
            for i, name in enumerate(names, start=1)
        )
        backend_of = {b.route.name: b.name for b in backends if b.route is not None}
        entries = tuple(
            (route_pattern(r), f"{backend_of[r.name]}:{strip_depth(r)}:{r.backend}")
            for r in unique_routes(routes)
        )
        deepest = max((strip_depth(r) for r in routes), default=0)
        return RouteTable(backends, entries, max(MIN_STRIP_DEPTH, deepest))
