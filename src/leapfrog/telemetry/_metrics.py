"""Metrics: periodic line-protocol snapshots to the metrics topic, and the shipper's own
counters as Prometheus metrics."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from leapfrog.telemetry._lineproto import to_line_protocol
from leapfrog.telemetry._shipper import LogShipper

__all__ = ["MetricsPublisher", "register_metrics"]

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

_log = logging.getLogger("leapfrog.telemetry.metrics")

Collect = Callable[[], "str | Iterable[str]"]


class MetricsPublisher:
    """Every `interval` seconds, one Kafka message to the metrics topic holding a snapshot
    as line protocol (one line per sample, newline-separated; key: the instance).

    `collect` is a function returning ready lines (one string, or an iterable of them),
    or a prometheus_client `CollectorRegistry`, converted by `to_line_protocol` with the
    tags service, instance and host (or `tags`).
    """

    def __init__(
        self,
        shipper: LogShipper,
        collect: Collect | CollectorRegistry,
        *,
        interval: float = 10.0,
        measurement_prefix: str = "",
        tags: Mapping[str, str] | None = None,
        topic: str | None = None,
    ) -> None:
        settings = shipper.settings
        self.shipper = shipper
        self.interval = interval
        self.topic = topic or settings.metrics_topic
        if tags is None:
            tags = {"service": settings.service, "instance": settings.instance}
            tags |= {"host": settings.host, "stack": settings.stack}
        self.tags = {k: v for k, v in tags.items() if v}
        self.measurement_prefix = measurement_prefix
        self._collect: Collect
        if callable(collect):
            self._collect = collect
        elif hasattr(collect, "collect"):
            registry: Any = collect
            self._collect = lambda: to_line_protocol(
                registry, self.tags, time.time_ns(), measurement_prefix=measurement_prefix
            )
        else:
            raise TypeError("MetricsPublisher needs a CollectorRegistry or a function")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self) -> int:
        """Take one snapshot and ship it now; the number of lines."""
        produced = self._collect()
        lines = [produced] if isinstance(produced, str) else list(produced)
        text = "\n".join(chunk.strip("\n") for chunk in lines if chunk.strip())
        if not text:
            return 0
        self.shipper.ship_to(self.topic, None, text.encode())
        return text.count("\n") + 1

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="leapfrog-metrics", daemon=True)
            self._thread.start()

    def close(self, publish_last: bool = True) -> None:
        """Stop; by default one last snapshot is shipped (before the shipper closes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if publish_last:
            self._publish_safely()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._publish_safely()

    def _publish_safely(self) -> None:
        try:
            self.publish()
        except Exception:  # a broken collector must not stop the next snapshots
            _log.exception("telemetry: metrics snapshot failed")


class _ShipperCollector:
    def __init__(self, shipper: LogShipper, prefix: str) -> None:
        self.shipper = shipper
        self.prefix = prefix

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        counters = self.shipper.counters
        p = self.prefix
        for name, text in (
            ("sent", "Events and metric snapshots delivered to Kafka"),
            ("spooled", "Events and metric snapshots written to the disk spool"),
            ("dropped", "Events and metric snapshots lost (buffer or spool full, refused)"),
        ):
            yield CounterMetricFamily(f"{p}_events_{name}", text, value=counters[name])
        yield GaugeMetricFamily(
            f"{p}_events_buffered",
            "Events in memory, queued or in flight",
            value=counters["buffered"],
        )
        yield GaugeMetricFamily(
            f"{p}_spool_bytes",
            "Bytes in the spool still to be delivered",
            value=self.shipper.spool_backlog_bytes,
        )
        yield GaugeMetricFamily(
            f"{p}_kafka_reachable",
            "1 while Kafka takes records, 0 while they are spooled",
            value=int(self.shipper.kafka_reachable),
        )


def register_metrics(
    shipper: LogShipper, registry: Any, *, prefix: str = "leapfrog_telemetry"
) -> None:
    """Export the shipper's counters (`<prefix>_events_sent_total`, `_events_spooled_total`,
    `_events_dropped_total`) and gauges (`_events_buffered`, `_spool_bytes`,
    `_kafka_reachable`)."""
    registry.register(_ShipperCollector(shipper, prefix))
