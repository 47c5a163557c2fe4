"""What a pipeline reports: counters, lag, throughput, the store's state; as Prometheus
metrics and as the one-line health the supervisor shows in `leapfrog status`."""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from leapfrog.shared.health_server import serve_health

__all__ = ["PipelineStats", "serve_stats"]

_WINDOW = 10.0
"""Seconds over which throughput is measured."""
_STALE = 120.0
"""A loop that has not turned for this long is stuck: the health probe fails."""


class PipelineStats:
    """Plain numbers the loop updates (one thread writes, probes read)."""

    def __init__(self, pipeline: str, sink: str) -> None:
        self.pipeline = pipeline
        self.sink = sink
        self.consumed = 0
        self.written = 0
        self.dead_lettered = 0
        self.retries = 0
        self.lag = 0
        self.rate = 0.0
        self.sink_up = False
        self.sink_problem = ""
        self.seconds = {"consume": 0.0, "decode": 0.0, "write": 0.0, "commit": 0.0}
        """Time spent in each step (consume and decode on the main thread, write and
        commit on the writer thread): where a slow pipeline's time goes."""
        self.last_turn = time.monotonic()
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def turned(self) -> None:
        """The loop is alive; also refreshes the throughput."""
        now = time.monotonic()
        self.last_turn = now
        self._samples.append((now, self.written))
        while len(self._samples) > 2 and now - self._samples[1][0] >= _WINDOW:
            self._samples.popleft()
        first_time, first_count = self._samples[0]
        span = now - first_time
        self.rate = (self.written - first_count) / span if span > 0.5 else 0.0

    def health(self) -> dict[str, Any]:
        age = time.monotonic() - self.last_turn
        state = f"{self.sink} up" if self.sink_up else f"waiting for {self.sink}"
        if not self.sink_up and self.sink_problem:
            state += f" ({self.sink_problem[:120]})"
        return {
            "ok": age < _STALE,
            "pipeline": self.pipeline,
            "sink": self.sink,
            "sink_up": self.sink_up,
            "lag": self.lag,
            "written_per_second": round(self.rate, 1),
            "consumed": self.consumed,
            "written": self.written,
            "dead_lettered": self.dead_lettered,
            "retries": self.retries,
            "seconds": {step: round(value, 3) for step, value in self.seconds.items()},
            "detail": f"lag {self.lag}, {self.rate:.0f}/s, {state}",
        }

    def collect(self) -> Iterator[Any]:
        """The numbers as Prometheus metric families (a prometheus_client collector)."""
        p = "leapfrog_pipeline"
        for name, text, value in (
            ("records", "Kafka records consumed", self.consumed),
            ("written", "Items the store acknowledged", self.written),
            ("dead_lettered", "Records or lines sent to the dead-letter topic", self.dead_lettered),
            ("retries", "Writes retried after the store refused or did not answer", self.retries),
        ):
            yield CounterMetricFamily(f"{p}_{name}", text, value=value)
        seconds = CounterMetricFamily(
            f"{p}_seconds", "Time spent in each step of the loop", labels=["step"]
        )
        for step, spent in self.seconds.items():
            seconds.add_metric([step], spent)
        yield seconds
        for name, text, gauge in (
            ("lag", "Records in Kafka not yet written and committed", float(self.lag)),
            ("written_per_second", "Items written per second (10 s window)", self.rate),
            ("sink_up", "1 when the store takes writes", float(self.sink_up)),
        ):
            yield GaugeMetricFamily(f"{p}_{name}", text, value=gauge)


def serve_stats(stats: PipelineStats, host: str, port: int) -> ThreadingHTTPServer:
    """`/health` (JSON, 503 when the loop is stuck) and `/metrics`, on their own thread."""
    return serve_health(stats.health, stats.registry, (host, port), "pipeline-stats")
