"""Kafka's options as the stack file gives them, and the files they become."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from leapfrog.components._backup_options import BackupOptions
from leapfrog.components._jvm import properties_file
from leapfrog.components.base import ComponentOptions
from leapfrog.shared.durations import parse_duration

__all__ = [
    "JMX_EXPORTER",
    "KafkaBackupOptions",
    "KafkaOptions",
    "TopicOptions",
    "jmx_exporter_yaml",
    "log4j2_properties",
    "server_properties",
]

JMX_EXPORTER = "io.prometheus.jmx:jmx_prometheus_javaagent:1.0.1"
"""The Prometheus JMX exporter's java agent (one shaded jar)."""

_DAYS = re.compile(r"(\d+(?:\.\d+)?)d")


def parse_retention_ms(value: object) -> int:
    """Milliseconds for a retention: -1 (keep forever) or a duration such as 7d, 24h, 90m."""
    if value in (-1, "-1"):
        return -1
    if isinstance(value, str) and _DAYS.fullmatch(value.strip()):
        return round(float(value.strip()[:-1]) * 86_400_000)
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ValueError("expected -1 (forever) or a duration such as 7d, 24h or 30m") from None
    if seconds <= 0:
        raise ValueError("a retention must be longer than 0 (or -1 for forever)")
    return round(seconds * 1000)


RetentionMs = Annotated[int, BeforeValidator(parse_retention_ms, json_schema_input_type=str | int)]


class TopicOptions(ComponentOptions):
    partitions: int = Field(1, ge=1, le=10_000, description="Number of partitions.")
    retention: RetentionMs | None = Field(
        None,
        description="How long records are kept: a duration such as `7d`, `24h`, `30m`, or "
        "`-1` to keep them forever. Unset: the broker's `log_retention`.",
    )
    cleanup_policy: Literal["delete", "compact", "compact,delete"] = Field(
        "delete",
        description="`delete` old segments after the retention, or `compact` to keep the "
        "latest record of each key.",
    )
    replication_factor: int = Field(
        1, ge=1, le=1, description="Copies of each partition; 1 on a single-node cluster."
    )
    config: dict[str, str] = Field(
        default_factory=dict,
        description="Other topic configs, by Kafka's own names (`max.message.bytes`: "
        "`2097152`), set as given.",
    )

    def topic_config(self) -> dict[str, str]:
        """The topic-level configs leapfrog manages for this topic."""
        wanted = {"cleanup.policy": self.cleanup_policy, **self.config}
        if self.retention is not None:
            wanted["retention.ms"] = str(self.retention)
        return wanted


class KafkaBackupOptions(BackupOptions):
    """`backups:` of Kafka: the shared options and what a backup holds."""

    topics: list[str] = Field(
        default_factory=list,
        description="Topics `leapfrog backup run` backs up (names or shell patterns such as "
        "`orders-*`); empty: every topic not starting with `__`. `--topic` overrides "
        "it.",
    )


class KafkaOptions(ComponentOptions):
    version: str = Field(
        "4.4.0",
        pattern=r"^4\.[0-9]+\.[0-9]+$",
        description="Apache Kafka version (4.x, KRaft); its jars come from Maven Central.",
    )
    port: int = Field(9092, ge=1, le=65535, description="Port of the client (PLAINTEXT) listener.")
    backups: KafkaBackupOptions | None = Field(
        default=None,
        description="Where `leapfrog backup` keeps this store's backups, and how many.",
    )
    controller_port: int = Field(
        9093, ge=1, le=65535, description="Port of the KRaft controller listener."
    )
    heap: str = Field(
        "512m",
        pattern=r"^[0-9]+[mMgG]$",
        description="JVM heap (`-Xmx`), such as `512m` or `2g`.",
    )
    log_retention: RetentionMs = Field(
        parse_retention_ms("7d"),
        description="Default retention of topics that set none: a duration such as `7d`, "
        "or `-1` for forever.",
    )
    auto_create_topics: bool = Field(
        True, description="Create a topic when a client first uses it (Kafka's default)."
    )
    topics: dict[str, TopicOptions] = Field(
        default_factory=dict,
        description="Topics created at `up`; partitions are raised and configs updated "
        "when the stack file changes (partitions are never lowered).",
    )
    jmx_exporter_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Run the Prometheus JMX exporter (java agent from Maven Central) on this "
        "port of the broker's address: broker metrics (messages and bytes in/out, request "
        "rates, under-replicated partitions, heap) then reach the metrics topic. Off by "
        "default: the agent adds to the broker's start.",
    )


def server_properties(
    options: KafkaOptions, address: str, port: int, log_dir: Path, node_id: int = 1
) -> str:
    """A combined broker+controller of a one-node cluster, listening on `address` only."""
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": f"{node_id}@{address}:{options.controller_port}",
        "listeners": f"PLAINTEXT://{address}:{port},CONTROLLER://{address}:{options.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{address}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        "log.retention.ms": str(options.log_retention),
        "auto.create.topics.enable": str(options.auto_create_topics).lower(),
        # One node: internal topics cannot have more than one copy.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    return properties_file(lines)


def log4j2_properties() -> str:
    """Everything to stdout, which the runtime captures as the instance's log."""
    return (
        "status = warn\n"
        "appender.out.type = Console\n"
        "appender.out.name = STDOUT\n"
        "appender.out.layout.type = PatternLayout\n"
        "appender.out.layout.pattern = [%d] %p %m (%c)%n\n"
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.out.ref = STDOUT\n"
        # Per-request and state-change chatter would drown the useful lines.
        "logger.request.name = kafka.request.logger\n"
        "logger.request.level = WARN\n"
        "logger.state.name = state.change.logger\n"
        "logger.state.level = WARN\n"
        # Every client and the broker print their full config at INFO: hundreds of lines.
        "logger.config.name = org.apache.kafka.common.config.AbstractConfig\n"
        "logger.config.level = WARN\n"
    )


def jmx_exporter_yaml() -> str:
    """The exporter's configuration: the broker's own MBeans that matter, not all of them
    (a full export is thousands of series per scrape)."""
    return (
        "lowercaseOutputName: true\n"
        "lowercaseOutputLabelNames: true\n"
        "includeObjectNames:\n"
        '  - "kafka.server:type=BrokerTopicMetrics,*"\n'
        '  - "kafka.server:type=ReplicaManager,*"\n'
        '  - "kafka.network:type=RequestMetrics,name=RequestsPerSec,*"\n'
        '  - "kafka.network:type=RequestMetrics,name=TotalTimeMs,*"\n'
        '  - "kafka.controller:type=KafkaController,*"\n'
        '  - "java.lang:type=Memory"\n'
        "rules:\n"
        '  - pattern: ".*"\n'
    )
