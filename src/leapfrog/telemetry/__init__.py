"""Log and metric shipping to Kafka: JSON log events, Influx line-protocol metrics, a disk spool.

See docs/telemetry.md for the settings, the event format and the delivery guarantees.
"""

from leapfrog.telemetry._event import JsonFormatter, encode_event
from leapfrog.telemetry._handler import KafkaLogHandler, structlog_processor
from leapfrog.telemetry._lineproto import to_line_protocol
from leapfrog.telemetry._metrics import MetricsPublisher, register_metrics
from leapfrog.telemetry._settings import ShipperSettings
from leapfrog.telemetry._shipper import LogShipper
from leapfrog.telemetry._transport import DeliveryError, KafkaTransport, OnDelivery, Transport

__all__ = [
    "DeliveryError",
    "JsonFormatter",
    "KafkaLogHandler",
    "KafkaTransport",
    "LogShipper",
    "MetricsPublisher",
    "OnDelivery",
    "ShipperSettings",
    "Transport",
    "encode_event",
    "register_metrics",
    "structlog_processor",
    "to_line_protocol",
]
