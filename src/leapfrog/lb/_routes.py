"""A service's route, read from its instances' meta (what the SDK publishes)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from leapfrog.lb._data import ServiceInstance

__all__ = ["Route", "backend_name", "route_of", "sort_routes", "unique_routes"]

UNROUTED_DOMAIN = "service.localhost"


def backend_name(name: str) -> str:
    """A service name as a config identifier (HAProxy and nginx both accept these)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


@dataclass(frozen=True)
class Route:
    name: str
    backend: str
    path: str
    host: str
    strip_prefix: bool
    passing: tuple[ServiceInstance, ...]
    instances: tuple[ServiceInstance, ...]

    @property
    def serving(self) -> tuple[ServiceInstance, ...]:
        """The instances to send requests to: the passing ones; when none passes, every
        one not in maintenance (Envoy's panic routing). A check that times out under
        load must not turn a service that still answers into a wall of 503s: the proxy's
        own checks and retries still skip an instance that really is down, and one put
        in maintenance (leaving: scale-down, a rollout) is never chosen."""
        return _serving(self.instances)

    def speaking(self, mtls: bool) -> tuple[ServiceInstance, ...]:
        """The serving instances a proxy that speaks only mutual TLS (`mtls`) or only
        plain HTTP can talk to. While identity is turned on or off the instances restart
        one by one, and a proxy sending plain HTTP to one that serves TLS gets junk back
        (a 502): those are left out as long as another instance can serve. When none can,
        `serving` (the proxy's errors then say what is wrong)."""
        return _serving(tuple(i for i in self.instances if i.mtls == mtls)) or self.serving

    @property
    def mtls(self) -> bool:
        """Its instances serve mutual TLS (service identity): the proxy presents its own
        certificate to them."""
        return any(i.mtls for i in self.instances)

    @property
    def catch_all(self) -> bool:
        """Every request no other route takes (path `/`, no host)."""
        return not self.host and self.path in ("", "/")


def _serving(instances: tuple[ServiceInstance, ...]) -> tuple[ServiceInstance, ...]:
    passing = tuple(i for i in instances if i.status == "passing")
    return passing or tuple(i for i in instances if i.status != "maintenance")


def route_of(name: str, instances: Sequence[ServiceInstance]) -> Route:
    """The route of service `name`: the meta of its first instance that has one (the
    newest version's instances may differ during a rollout; the first sorted wins), else
    the Host `<name>.service.localhost`."""
    routed = [i for i in instances if i.route_path or i.route_host]
    first = routed[0] if routed else None
    path = first.route_path if first else ""
    host = first.route_host if first else f"{backend_name(name)}.{UNROUTED_DOMAIN}"
    return Route(
        name=name,
        backend=backend_name(name),
        path=path,
        host=host,
        strip_prefix=bool(first and first.strip_prefix),
        passing=tuple(i for i in instances if i.status == "passing"),
        instances=tuple(instances),
    )


def sort_routes(routes: Iterable[Route]) -> list[Route]:
    """Most specific first: host and path, then host, then path (longest prefix first);
    the catch-all last."""
    return sorted(
        routes,
        key=lambda r: (
            r.catch_all,
            not (r.host and r.path),
            not r.host,
            -len(r.path.rstrip("/")),
            r.name,
        ),
    )


def unique_routes(routes: Iterable[Route]) -> list[Route]:
    """The first route for each host and path (two services claiming one route would make
    nginx refuse the configuration); sort first, so the choice is stable."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for route in routes:
        where = (route.host, route.path)
        if where not in seen:
            seen.add(where)
            kept.append(route)
    return kept
