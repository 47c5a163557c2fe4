"""Per-route request metrics in a registry of the service's own (never the global one, so
two services in one test process do not collide)."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

__all__ = ["RequestMetrics", "new_registry"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def new_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


class RequestMetrics:
    """http_requests_total, http_request_duration_seconds and http_requests_in_flight,
    labelled by method and route (the route's template, not the raw path)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._count = Counter(
            "http_requests",
            "Requests answered, by method, route and status.",
            ("method", "route", "status"),
            registry=registry,
        )
        self._latency = Histogram(
            "http_request_duration_seconds",
            "Time from the request's arrival to the end of the response.",
            ("method", "route"),
            buckets=_BUCKETS,
            registry=registry,
        )
        self._in_flight = Gauge(
            "http_requests_in_flight",
            "Requests being handled now.",
            ("method", "route"),
            registry=registry,
        )
        # labels() costs a lock and a dict lookup per call: keep the children.
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def started(self, method: str, route: str) -> None:
        self._child(self._in_flight, method, route).inc()

    def finished(self, method: str, route: str, status: int, seconds: float) -> None:
        self._child(self._in_flight, method, route).dec()
        self._child(self._count, method, route, str(status)).inc()
        self._child(self._latency, method, route).observe(seconds)
