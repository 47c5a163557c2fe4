"""Flink's options as the stack file gives them, and the files they become.

The cluster reads one `config.yaml` that leapfrog writes before every start: every
listener (REST and dashboard, JobManager RPC, blob server, the TaskManagers' RPC and data
ports) on the instance's own address; checkpoints and savepoints in the data directory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, Field, StringConstraints

from leapfrog.components.base import ComponentOptions
from leapfrog.shared.durations import parse_duration

__all__ = [
    "CONNECTORS",
    "FlinkJobOptions",
    "FlinkKubeOptions",
    "FlinkOptions",
    "client_config_yaml",
    "cluster_config",
    "config_yaml",
    "job_fingerprint",
    "log4j_console_properties",
]

CONNECTORS: Mapping[str, str] = {
    "kafka": "org.apache.flink:flink-sql-connector-kafka:5.0.0-2.2",
    "jdbc": "org.apache.flink:flink-connector-jdbc-postgres:4.0.0-2.0",
}
"""Connectors a job may name by short name; any other is Maven coordinates (`g:a:v`)."""
_CONNECTOR_EXTRAS: Mapping[str, tuple[str, ...]] = {
    "jdbc": ("org.postgresql:postgresql:42.7.4",),
}
"""What a short-named connector needs beside itself: JDBC's PostgreSQL driver."""

_CONNECTOR = r"^(kafka|jdbc|[\w.-]+:[\w.-]+:[\w.-]+)$"


class FlinkJobOptions(ComponentOptions):
    file: str = Field(
        description="The job's file (absolute, or relative to the stack file's directory): "
        "Flink SQL, or a PyFlink script when it ends in `.py`. In SQL, `${NAME}` is "
        "replaced by the cluster's environment, which holds every component's connection "
        "variables (`${KAFKA_BOOTSTRAP_SERVERS}`); a script reads them from `os.environ`.",
        min_length=1,
    )
    parallelism: int = Field(1, ge=1, le=1024, description="The job's default parallelism.")
    connectors: list[Annotated[str, StringConstraints(pattern=_CONNECTOR)]] = Field(
        default_factory=list,
        description="Connectors the job uses: `kafka`, `jdbc` (PostgreSQL, with its "
        "driver), or Maven coordinates "
        "`group:artifact:version` (a JDBC driver, another connector); resolved from Maven "
        "Central at install and shipped with the job.",
    )
    restart_strategy: Literal["exponential-delay", "fixed-delay", "none"] = Field(
        "exponential-delay",
        description="What Flink does when a task fails: restart with growing delays, "
        "with a fixed delay (3 attempts), or fail the job.",
    )

    def coordinates(self) -> list[str]:
        return [
            coordinates
            for name in self.connectors
            for coordinates in (CONNECTORS.get(name, name), *_CONNECTOR_EXTRAS.get(name, ()))
        ]

    @property
    def kind(self) -> Literal["sql", "python"]:
        """A `.py` file is a PyFlink script; anything else is Flink SQL."""
        return "python" if self.file.endswith(".py") else "sql"


def _interval(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("an interval must be longer than 0")
    return seconds


def _checked_interval(value: str) -> str:
    _interval(value)
    return value


class StatsOptions(ComponentOptions):
    """The platform's statistics job (`_flink_stats`)."""

    source_topic: str = Field(
        "logs", min_length=1, description="The Kafka topic holding the load balancer's events."
    )
    topic: str = Field(
        "service-stats", min_length=1, description="Where the statistics go, as JSON records."
    )
    window: Annotated[str, AfterValidator(_checked_interval)] = Field(
        "10s", description="Length of the tumbling windows (whole seconds)."
    )
    lateness: Annotated[str, AfterValidator(_checked_interval)] = Field(
        "5s",
        description="How late (in event time) a request event may arrive and still count; "
        "a window is written this long after its end.",
    )
    parallelism: int = Field(1, ge=1, le=1024, description="The job's parallelism.")
    guarantee: Literal["exactly-once", "at-least-once"] = Field(
        "exactly-once",
        description="Exactly-once: each window's record is written in a Kafka transaction "
        "committed with the job's checkpoint (readers with `isolation.level=read_committed` "
        "see it once, at the next checkpoint after the window closes, even across a "
        "TaskManager crash). At-least-once: written at once, possibly again (same numbers) "
        "after a failure.",
    )
    metrics_topic: str | None = Field(
        "metrics",
        min_length=1,
        description="Also write each window as InfluxDB line protocol (measurement "
        "`service_stats`, tags service and route) to this topic, which the metrics "
        "pipeline carries into InfluxDB; null for JSON only.",
    )


class FlinkKubeOptions(ComponentOptions):
    """How the cluster is rendered for Kubernetes (`leapfrog render`/`apply`)."""

    operator: bool = Field(
        False,
        description="The Flink Kubernetes Operator is installed in the cluster: render a "
        "`FlinkDeployment` (the session cluster) and a `FlinkSessionJob` per PyFlink job "
        "instead of the standalone Deployments.",
    )
    checkpoints: Annotated[str, StringConstraints(pattern=r"^(pvc|s3://[^/\s]+(/\S*)?)$")] = Field(
        "pvc",
        description="Where checkpoints and savepoints go: `pvc` (a ReadWriteMany claim "
        "`flink-checkpoints` every Flink pod mounts; size from `kubernetes.storage.flink`, "
        "default 10Gi) or an `s3://bucket/path` (Flink's S3 plugin; credentials from the "
        "pods' identity, the endpoint in `config:` as `s3.endpoint`).",
    )
    service_account: str = Field(
        "flink",
        min_length=1,
        description="The JobManager's service account under the operator (the operator's "
        "chart creates `flink` in the namespaces it watches).",
    )


class FlinkOptions(ComponentOptions):
    version: str = Field(
        "2.2.1",
        pattern=r"^2\.2\.[0-9]+$",
        description="Apache Flink version (2.2.x), installed from PyPI's `apache-flink` "
        "into its own environment in leapfrog's cache.",
    )
    port: int = Field(8081, ge=1, le=65535, description="Port of the REST API and dashboard.")
    rpc_port: int = Field(6123, ge=1, le=65535, description="The JobManager's RPC port.")
    blob_port: int = Field(6124, ge=1, le=65535, description="The JobManager's blob server.")
    taskmanagers: int = Field(
        1,
        ge=1,
        le=16,
        description="TaskManager processes, each a child of the instance's process "
        "(restarted when one dies).",
    )
    slots: int = Field(2, ge=1, le=64, description="Task slots per TaskManager.")
    jobmanager_memory: str = Field(
        "768m",
        pattern=r"^[0-9]+[mMgG]$",
        description="The JobManager's total process memory (`jobmanager.memory.process.size`).",
    )
    taskmanager_memory: str = Field(
        "1024m",
        pattern=r"^[0-9]+[mMgG]$",
        description="Each TaskManager's total process memory (`taskmanager.memory.process.size`).",
    )
    checkpoint_interval: Annotated[str, AfterValidator(_checked_interval)] = Field(
        "10s",
        description="How often jobs checkpoint their state into the data directory "
        "(a duration such as `10s` or `1m`).",
    )
    jobs: dict[str, FlinkJobOptions] = Field(
        default_factory=dict,
        description="Flink SQL jobs submitted once the cluster is up; each stops with a "
        "savepoint on `down` (or when its file changes) and resumes from it.",
    )
    service_stats: StatsOptions | None = Field(
        None,
        description="Run the platform's statistics job: per service and route, every "
        "window, request count, 5xx count, latency p50/p95/p99 and bytes from the load "
        "balancer's events in Kafka, to the `service-stats` topic (see docs/flink.md). "
        "`{}` for the defaults.",
    )
    config: dict[str, str] = Field(
        default_factory=dict,
        description="Other Flink settings by Flink's own names, written into config.yaml.",
    )
    kubernetes: FlinkKubeOptions = Field(
        default_factory=FlinkKubeOptions,
        description="Kubernetes only: the operator's resources or the standalone cluster, "
        "and where checkpoints go.",
    )

    def checkpoint_seconds(self) -> float:
        return _interval(self.checkpoint_interval)

    def connector_coordinates(self) -> list[str]:
        """Every connector any job names, each once, in a stable order."""
        wanted = {c for job in self.jobs.values() for c in job.coordinates()}
        if self.service_stats is not None:
            wanted.add(CONNECTORS["kafka"])
        return sorted(wanted)

    def job_names(self) -> list[str]:
        """The declared jobs and, when asked for, the platform's own."""
        return [*self.jobs, *(["service-stats"] if self.service_stats is not None else [])]


def cluster_config(
    options: FlinkOptions, address: str, port: int, data: Path, java_opts: str
) -> dict[str, str]:
    """The cluster's settings, flat keys as Flink's own documentation names them."""
    millis = round(options.checkpoint_seconds() * 1000)
    settings = {
        "env.java.opts.all": java_opts,
        "jobmanager.bind-host": address,
        "jobmanager.rpc.address": address,
        "jobmanager.rpc.port": str(options.rpc_port),
        "jobmanager.memory.process.size": options.jobmanager_memory,
        "jobmanager.execution.failover-strategy": "region",
        "blob.server.port": str(options.blob_port),
        "rest.address": address,
        "rest.bind-address": address,
        "rest.port": str(port),
        "taskmanager.bind-host": address,
        "taskmanager.host": address,
        # Ephemeral ports, on the instance's address: several TaskManagers share it.
        "taskmanager.rpc.port": "0",
        "taskmanager.data.port": "0",
        "metrics.internal.query-service.port": "0",
        "taskmanager.numberOfTaskSlots": str(options.slots),
        "taskmanager.memory.process.size": options.taskmanager_memory,
        "parallelism.default": "1",
        "io.tmp.dirs": str(data / "tmp"),
        "web.tmpdir": str(data / "tmp" / "web"),
        "web.upload.dir": str(data / "tmp" / "upload"),
        "execution.checkpointing.interval": f"{millis}ms",
        "execution.checkpointing.dir": f"file://{data / 'checkpoints'}",
        "execution.checkpointing.savepoint-dir": f"file://{data / 'savepoints'}",
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.num-retained": "2",
        # A TaskManager that died is noticed in seconds, not after the 50 s default.
        "heartbeat.timeout": "15000",
        "heartbeat.interval": "3000",
        "resourcemanager.taskmanager-timeout": "30000",
    }
    if not any(job.kind == "python" for job in options.jobs.values()):
        # Managed memory serves RocksDB, batch operators and Python workers. State here
        # is on the heap, so without a PyFlink job Flink's default 40% is idle while it
        # leaves the tasks ~26 MB of heap in a 1024m TaskManager: the stats job's
        # sustained rate went from ~59,000 to ~106,000 events/s at 5% (bench/flink.py).
        settings["taskmanager.memory.managed.fraction"] = "0.05"
    settings.update(options.config)
    return settings


def config_yaml(settings: Mapping[str, str]) -> str:
    header = "# Written by leapfrog before each start; edit the stack file instead.\n"
    return header + yaml.safe_dump(dict(settings), default_flow_style=False, sort_keys=True)


def client_config_yaml(settings: Mapping[str, str]) -> str:
    """The SQL client's: the cluster's settings (a job's checkpointing is decided where
    its graph is built, in the client), without the listeners' bind addresses. Its
    embedded SQL gateway listens on localhost (the client connects to it there) for the
    seconds the submission takes."""
    return config_yaml({k: v for k, v in settings.items() if "bind-" not in k})


def log4j_console_properties() -> str:
    """Every process to stdout, which the runtime captures; each line names its process
    (`[jobmanager]`, `[taskmanager-2]`) from the environment the launcher gives it."""
    return (
        "monitorInterval = 0\n"
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.console.ref = ConsoleAppender\n"
        "appender.console.name = ConsoleAppender\n"
        "appender.console.type = CONSOLE\n"
        "appender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %c - "
        "[${env:LEAPFROG_FLINK_PROCESS:-flink}] %m%n\n"
        "logger.pekko.name = org.apache.pekko\n"
        "logger.pekko.level = WARN\n"
        "logger.kafka.name = org.apache.kafka\n"
        "logger.kafka.level = WARN\n"
        # The Kafka connector's own client, shaded; it prints its whole config at INFO.
        "logger.shadedkafka.name = org.apache.flink.kafka.shaded.org.apache.kafka\n"
        "logger.shadedkafka.level = WARN\n"
        "logger.netty.name = org.jboss.netty.channel.DefaultChannelPipeline\n"
        "logger.netty.level = OFF\n"
        # Every configuration key is printed at start: dozens of lines per process.
        "logger.config.name = org.apache.flink.configuration.GlobalConfiguration\n"
        "logger.config.level = WARN\n"
    )


def job_fingerprint(job: ComponentOptions, sql: str) -> str:
    """What makes a job a new version: its SQL and its options."""
    text = json.dumps({"sql": sql, "options": job.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
