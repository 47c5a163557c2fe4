"""The logging side: a stdlib handler and an optional structlog processor feeding a shipper."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from leapfrog.telemetry._event import JsonFormatter, rfc3339
from leapfrog.telemetry._shipper import LogShipper

__all__ = ["KafkaLogHandler", "structlog_processor"]

_OWN_LOGGERS = "leapfrog.telemetry"


class KafkaLogHandler(logging.Handler):
    """Each record becomes an event (see `JsonFormatter`) shipped without blocking.

    Records of the shipper's own loggers (`leapfrog.telemetry.*`) are left to the other
    handlers: a shipper reporting on Kafka through Kafka would feed itself.
    """

    def __init__(
        self,
        shipper: LogShipper,
        level: int = logging.NOTSET,
        *,
        formatter: JsonFormatter | None = None,
    ) -> None:
        super().__init__(level)
        settings = shipper.settings
        self.shipper = shipper
        self.json = formatter or JsonFormatter(
            service=settings.service,
            instance=settings.instance,
            host=settings.host,
            stack=settings.stack,
        )
        self.setFormatter(self.json)

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        if isinstance(fmt, JsonFormatter):
            self.json = fmt
        super().setFormatter(fmt)

    def handle(self, record: logging.LogRecord) -> bool:
        # No handler lock: the shipper's queue is thread-safe, and the lock would make
        # every logging thread wait for the others.
        if record.name.startswith(_OWN_LOGGERS):
            return False
        rv = self.filter(record)
        if rv:
            self.emit(record)
        return bool(rv)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.shipper.ship(self.json.event(record))
        except Exception:
            self.handleError(record)


def structlog_processor(
    shipper: LogShipper, *, logger_name: str = ""
) -> Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]:
    """A structlog processor that ships each event dict and passes it on unchanged.

    Put it before the renderer: `structlog.configure(processors=[..., structlog_processor(
    shipper), structlog.processors.JSONRenderer()])`. structlog itself is not needed to
    build it; only structlog calls it.
    """
    settings = shipper.settings
    fixed = {"service": settings.service, "instance": settings.instance, "host": settings.host}

    def process(
        logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event: dict[str, object] = {
            "ts": rfc3339(time.time()),
            "level": str(event_dict.get("level", method_name)).lower(),
            "message": str(event_dict.get("event", "")),
            "logger": str(event_dict.get("logger", logger_name or getattr(logger, "name", ""))),
            **fixed,
        }
        for key, value in event_dict.items():
            if key not in event and key not in ("event", "timestamp", "exc_info"):
                event[key] = value
        shipper.ship(event)
        return event_dict

    return process
