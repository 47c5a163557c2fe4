"""Log and metric shipping to Kafka: JSON log events, Influx line-protocol metrics, a disk spool.

See docs/telemetry.md for the settings, the event format and the delivery guarantees.

Its names load on first use (PEP 562): the component contract needs `LogFormat` and
`Sample`, and every command that reads a stack file loads that contract; the shipper,
its Kafka transport and the host-log readers load only in the processes that use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leapfrog.shared.lazy import lazy_names

if TYPE_CHECKING:
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

_HOMES = {
    "JsonFormatter": "_event",
    "encode_event": "_event",
    "rfc3339": "_event",
    "KafkaLogHandler": "_handler",
    "structlog_processor": "_handler",
    "AUDIT": "_hostlogs",
    "SYSLOG": "_hostlogs",
    "JournalReader": "_hostlogs",
    "KmsgReader": "_hostlogs",
    "journal_event": "_hostlogs",
    "kmsg_event": "_hostlogs",
    "systemd_running": "_hostlogs",
    "to_line_protocol": "_lineproto",
    "HAPROXY": "_logformat",
    "INFLUXDB_LOGFMT": "_logformat",
    "LOG4J_FLINK": "_logformat",
    "LOG4J_KAFKA": "_logformat",
    "LOG4J_OPENSEARCH": "_logformat",
    "LOGBACK_ZOOKEEPER": "_logformat",
    "PLAIN": "_logformat",
    "POSTGRES": "_logformat",
    "PYTHON_LOGGING": "_logformat",
    "LogAssembler": "_logformat",
    "LogFormat": "_logformat",
    "json_event": "_logformat",
    "level_name": "_logformat",
    "MetricsPublisher": "_metrics",
    "register_metrics": "_metrics",
    "Sample": "_samples",
    "metric_name": "_samples",
    "prometheus_samples": "_samples",
    "sample_lines": "_samples",
    "ShipperSettings": "_settings",
    "LogShipper": "_shipper",
    "FileFollower": "_tail",
    "Position": "_tail",
    "DeliveryError": "_transport",
    "KafkaTransport": "_transport",
    "OnDelivery": "_transport",
    "Transport": "_transport",
}


__getattr__ = lazy_names(__name__, _HOMES, globals())
