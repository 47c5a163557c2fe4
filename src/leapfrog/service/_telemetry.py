"""The service's logs and metrics: JSON events on the console and to Kafka, and periodic
metric snapshots in line protocol, all through `leapfrog.telemetry`."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry

from leapfrog.service._settings import ServiceSettings
from leapfrog.telemetry import (
    JsonFormatter,
    KafkaLogHandler,
    LogShipper,
    MetricsPublisher,
    ShipperSettings,
    register_metrics,
)

__all__ = ["Telemetry"]


def _spool_dir(settings: ServiceSettings) -> Path:
    if settings.data_dir is not None:
        return settings.data_dir / "spool"
    return Path(tempfile.gettempdir()) / "leapfrog-spool" / settings.instance


class Telemetry:
    """Owns the log shipper and the metrics publisher of one service instance."""

    def __init__(self, settings: ServiceSettings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.shipper = LogShipper(
            ShipperSettings.from_env(
                service=settings.name,
                instance=settings.instance,
                spool_dir=_spool_dir(settings),
            )
        )
        register_metrics(self.shipper, registry)
        interval = float(os.environ.get("LEAPFROG_METRICS_INTERVAL", "10") or 10)
        self.publisher = MetricsPublisher(
            self.shipper,
            registry,
            interval=interval,
            tags={
                "service": settings.name,
                "instance": settings.instance,
                "host": settings.hostname,
                **({"stack": stack} if (stack := self.shipper.settings.stack) else {}),
            },
        )
        self._handlers: list[logging.Handler] = []

    def configure_logging(self) -> None:
        """Root logging: JSON lines on stdout (the supervisor keeps them) and to Kafka."""
        formatter = JsonFormatter(
            service=self.settings.name,
            instance=self.settings.instance,
            host=self.settings.hostname,
            stack=self.shipper.settings.stack,
        )
        console = logging.StreamHandler(sys.stdout)
        console.setFormatter(formatter)
        ship = KafkaLogHandler(self.shipper)
        root = logging.getLogger()
        for handler in (console, ship):
            root.addHandler(handler)
            self._handlers.append(handler)
        level = os.environ.get("LEAPFROG_LOG_LEVEL", "INFO").upper()
        root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
        # httpx logs every request at INFO: the SDK's own catalog calls would drown the
        # service's events.
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    def start(self) -> None:
        self.shipper.start()
        self.publisher.start()

    def close(self) -> None:
        """Publish a last snapshot and flush every buffered event (to Kafka or the spool)."""
        self.publisher.close()
        self.shipper.close()
        root = logging.getLogger()
        for handler in self._handlers:
            root.removeHandler(handler)
        self._handlers.clear()
