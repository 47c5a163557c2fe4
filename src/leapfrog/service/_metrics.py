"""Per-route request metrics in a registry of the service's own (never the global one, so
two services in one test process do not collide).

The request path only bumps plain numbers: every request is handled on the event loop's
thread, so no lock is needed, and prometheus_client's locked metric objects cost more
than the rest of the middleware together (bench/sdk.py). The numbers become metric
families only when /metrics is read or a snapshot is shipped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

__all__ = ["RequestMetrics", "RouteStats", "new_registry"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def new_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


class RouteStats:
    """The numbers of one (method, route): the middleware holds on to it per path, so a
    request costs one dict lookup to find it."""

    __slots__ = ("buckets", "in_flight", "statuses", "total")

    def __init__(self) -> None:
        self.in_flight = 0
        self.statuses: dict[int, int] = {}
        self.buckets = [0] * (len(_BUCKETS) + 1)
        self.total = 0.0

    def finished(self, status: int, seconds: float) -> None:
        self.in_flight -= 1
        statuses = self.statuses
        statuses[status] = statuses.get(status, 0) + 1
        self.buckets[bisect_left(_BUCKETS, seconds)] += 1
        self.total += seconds


class RequestMetrics:
    """http_requests_total, http_request_duration_seconds and http_requests_in_flight,
    labelled by method and route (the route's template, not the raw path)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._routes: dict[tuple[str, str], RouteStats] = {}
        registry.register(self)

    def route(self, method: str, route: str) -> RouteStats:
        """The numbers of (method, route), created on first use."""
        stats = self._routes.get((method, route))
        if stats is None:
            stats = self._routes[(method, route)] = RouteStats()
        return stats

    def started(self, method: str, route: str) -> None:
        self.route(method, route).in_flight += 1

    def finished(self, method: str, route: str, status: int, seconds: float) -> None:
        self._routes[(method, route)].finished(status, seconds)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        labels = ["method", "route"]
        count = CounterMetricFamily(
            "http_requests",
            "Requests answered, by method, route and status.",
            labels=[*labels, "status"],
        )
        latency = HistogramMetricFamily(
            "http_request_duration_seconds",
            "Time from the request's arrival to the end of the response.",
            labels=labels,
        )
        in_flight = GaugeMetricFamily(
            "http_requests_in_flight", "Requests being handled now.", labels=labels
        )
        for (method, route), stats in list(self._routes.items()):
            for status, n in sorted(stats.statuses.items()):
                count.add_metric([method, route, str(status)], n)
            cumulative, buckets = 0, []
            for bound, n in zip((*_BUCKETS, float("inf")), stats.buckets, strict=True):
                cumulative += n
                buckets.append((_le(bound), cumulative))
            latency.add_metric([method, route], buckets, stats.total)
            in_flight.add_metric([method, route], stats.in_flight)
        yield count
        yield latency
        yield in_flight


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
