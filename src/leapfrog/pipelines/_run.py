"""A pipeline as a process: its stats server, its own metrics to Kafka, SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

from leapfrog.pipelines._runner import Pipeline, PipelineSettings
from leapfrog.pipelines._sink import Sink
from leapfrog.pipelines._stats import PipelineStats, serve_stats

__all__ = ["run_pipeline"]

_log = logging.getLogger("leapfrog.pipelines")


def run_pipeline(
    settings: PipelineSettings,
    sink: Sink[Any],
    *,
    listen: tuple[str, int],
    instance: str,
    spool_dir: Path | None = None,
    metrics_interval: float = 10.0,
) -> None:
    """Serve until SIGTERM or SIGINT: the loop in this thread, `/health` and `/metrics`
    on `listen`, and every `metrics_interval` s a snapshot of the pipeline's own metrics
    (lag, throughput) to Kafka's metrics topic, where any other metric goes."""
    from leapfrog.telemetry import LogShipper, MetricsPublisher, ShipperSettings

    stats = PipelineStats(settings.name, sink.name)
    server = serve_stats(stats, *listen)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    shipper_settings = ShipperSettings.from_env(
        service=f"{settings.name}-pipeline",
        instance=instance,
        spool_dir=spool_dir,
        bootstrap_servers=settings.kafka.bootstrap,
    )
    shipper = LogShipper(shipper_settings)
    shipper.start()
    publisher = MetricsPublisher(shipper, stats.registry, interval=metrics_interval)
    publisher.start()
    try:
        Pipeline(settings, sink, stats).run(stop)
    finally:
        publisher.close()
        shipper.close(timeout=5.0)
        server.shutdown()
        _log.info("stopped")
