"""Log and metric shipping to Kafka: JSON log events, Influx line-protocol metrics, a disk spool.

See docs/telemetry.md for the settings, the event format and the delivery guarantees.
"""

from leapfrog.telemetry._event import JsonFormatter, encode_event, rfc3339
from leapfrog.telemetry._handler import KafkaLogHandler, structlog_processor
from leapfrog.telemetry._hostlogs import (
    AUDIT,
    SYSLOG,
    JournalReader,
    KmsgReader,
    journal_event,
    kmsg_event,
    systemd_running,
)
from leapfrog.telemetry._lineproto import to_line_protocol
from leapfrog.telemetry._logformat import (
    HAPROXY,
    INFLUXDB_LOGFMT,
    LOG4J_FLINK,
    LOG4J_KAFKA,
    LOG4J_OPENSEARCH,
    LOGBACK_ZOOKEEPER,
    PLAIN,
    POSTGRES,
    PYTHON_LOGGING,
    LogAssembler,
    LogFormat,
    json_event,
    level_name,
)
from leapfrog.telemetry._metrics import MetricsPublisher, register_metrics
from leapfrog.telemetry._samples import Sample, metric_name, prometheus_samples, sample_lines
from leapfrog.telemetry._settings import ShipperSettings
from leapfrog.telemetry._shipper import LogShipper
from leapfrog.telemetry._tail import FileFollower, Position
from leapfrog.telemetry._transport import DeliveryError, KafkaTransport, OnDelivery, Transport

__all__ = [
    "AUDIT",
    "HAPROXY",
    "INFLUXDB_LOGFMT",
    "LOG4J_FLINK",
    "LOG4J_KAFKA",
    "LOG4J_OPENSEARCH",
    "LOGBACK_ZOOKEEPER",
    "PLAIN",
    "POSTGRES",
    "PYTHON_LOGGING",
    "SYSLOG",
    "DeliveryError",
    "FileFollower",
    "JournalReader",
    "JsonFormatter",
    "KafkaLogHandler",
    "KafkaTransport",
    "KmsgReader",
    "LogAssembler",
    "LogFormat",
    "LogShipper",
    "MetricsPublisher",
    "OnDelivery",
    "Position",
    "Sample",
    "ShipperSettings",
    "Transport",
    "encode_event",
    "journal_event",
    "json_event",
    "kmsg_event",
    "level_name",
    "metric_name",
    "prometheus_samples",
    "register_metrics",
    "rfc3339",
    "sample_lines",
    "structlog_processor",
    "systemd_running",
    "to_line_protocol",
]
