"""Apache Kafka 4.x in KRaft mode: one combined broker+controller, jars from Maven Central.

The storage directory is formatted by an init command the first time only, with a
cluster id generated once and kept in the data directory. Health is a metadata request
from a real client; setup creates and updates the topics the stack file declares.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path

from leapfrog.components import _kafka_admin
from leapfrog.components._jvm import archive_flags, install_jvm_program, jvm_flags
from leapfrog.components._jvm_training import free_ports, run_for_training
from leapfrog.components._kafka_config import (
    JMX_EXPORTER,
    KafkaOptions,
    TopicOptions,
    jmx_exporter_yaml,
    log4j2_properties,
    server_properties,
)
from leapfrog.components._maven import resolve
from leapfrog.components.base import Component, Health, Installation, Instance, Process, Progress
from leapfrog.components.kube import KubeContext, KubeRender
from leapfrog.telemetry import LOG4J_KAFKA, LogFormat, Sample, prometheus_samples

__all__ = ["Kafka", "KafkaOptions", "TopicOptions"]

SERVER_PROPERTIES = "server.properties"
LOG4J2_PROPERTIES = "log4j2.properties"
CLUSTER_ID = "cluster.id"
JMX_YAML = "jmx-exporter.yaml"
LOG_DIR = "kraft-logs"
FORMAT_ROLE = "format"
BROKER_ROLE = "broker"
"""The two JVMs of a start, each with its own class-data archive (see `_jvm`)."""

# Kafka's pom leaves out an SLF4J binding (its tarball ships one): without it the
# broker would log nothing. Its version comes from the Log4j BOM below.
_LOGGING_BOM = "org.apache.logging.log4j:log4j-bom:2.25.5"
_SLF4J_BINDING = "org.apache.logging.log4j:log4j-slf4j-impl"


class Kafka(Component[KafkaOptions]):
    kind = "kafka"
    options_model = KafkaOptions
    default_port = 9092
    description = "Apache Kafka 4.x (KRaft, one combined broker and controller)"

    def install(self, options: KafkaOptions, cache_dir: Path, progress: Progress) -> Installation:
        installation = self._install_broker(options, cache_dir, progress)
        if options.jmx_exporter_port is None:
            return installation
        # Its own set, off the broker's classpath: the broker's archive stays valid.
        agent = resolve("jmx-exporter", [JMX_EXPORTER], cache_dir, progress)
        extra = {**installation.extra, "jmx_agent": str(agent.jars[0])}
        return Installation(installation.version, installation.home, extra)

    def _install_broker(
        self, options: KafkaOptions, cache_dir: Path, progress: Progress
    ) -> Installation:
        return install_jvm_program(
            f"kafka-{options.version}",
            options.version,
            [
                f"org.apache.kafka:kafka_2.13:{options.version}",
                f"org.apache.kafka:kafka-tools:{options.version}",
                _SLF4J_BINDING,
            ],
            cache_dir,
            progress,
            boms=[_LOGGING_BOM],
            roles=(FORMAT_ROLE, BROKER_ROLE),
            train=lambda installation: run_for_training(
                self, training_options(options), installation
            ),
        )

    def process(
        self, options: KafkaOptions, installation: Installation, where: Instance
    ) -> Process:
        data = where.data_dir
        java, argfile = installation.extra["java"], installation.extra["argfile"]
        logging = f"-Dlog4j2.configurationFile={data / LOG4J2_PROPERTIES}"
        # Format once: meta.properties marks formatted storage; the cluster id file is
        # written with the other files, so the id is the same on every start.
        format_script = (
            'test -f "$1/meta.properties" && exit 0; id=$(cat "$2") || exit 1; '
            'shift 2; exec "$@" -t "$id"'
        )
        init = (
            "sh",
            "-c",
            format_script,
            "kafka-format",
            str(data / LOG_DIR),
            str(data / CLUSTER_ID),
            java,
            *jvm_flags("256m"),
            *archive_flags(installation, FORMAT_ROLE),
            logging,
            f"@{argfile}",
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "-c",
            str(data / SERVER_PROPERTIES),
        )
        java_cmd = [
            java,
            *jvm_flags(options.heap),
            *archive_flags(installation, BROKER_ROLE),
            logging,
            f"@{argfile}",
        ]
        files = {
            SERVER_PROPERTIES: server_properties(
                options, where.address, where.port, data / LOG_DIR
            ),
            LOG4J2_PROPERTIES: log4j2_properties(),
            CLUSTER_ID: existing_cluster_id(data) or new_cluster_id(),
        }
        if options.jmx_exporter_port is not None:
            agent = installation.extra["jmx_agent"]
            port = options.jmx_exporter_port
            java_cmd.insert(1, f"-javaagent:{agent}={where.address}:{port}:{data / JMX_YAML}")
            files[JMX_YAML] = jmx_exporter_yaml()
        return Process(
            argv=(*java_cmd, "kafka.Kafka", str(data / SERVER_PROPERTIES)),
            files=files,
            init=(init,),
            stop_signal="SIGTERM",
            stop_grace_period=30.0,
            start_timeout=120.0,
        )

    async def health(self, options: KafkaOptions, where: Instance) -> Health:
        ok, detail = await asyncio.to_thread(_kafka_admin.metadata_summary, _bootstrap(where), 3.0)
        return Health(ok, detail)

    async def setup(self, options: KafkaOptions, where: Instance) -> None:
        await asyncio.to_thread(_kafka_admin.ensure_topics, _bootstrap(where), options.topics)

    def connection_env(self, options: KafkaOptions, where: Instance) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": _bootstrap(where)}

    def log_format(self, options: KafkaOptions) -> LogFormat:
        return LOG4J_KAFKA

    async def metrics(self, options: KafkaOptions, where: Instance) -> list[Sample]:
        from leapfrog.components._kafka_metrics import kafka_samples

        samples = await asyncio.to_thread(kafka_samples, _bootstrap(where))
        if options.jmx_exporter_port is not None:
            import httpx

            url = f"http://{where.address}:{options.jmx_exporter_port}/metrics"
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(url)
                response.raise_for_status()
            samples += prometheus_samples(response.text)
        return samples

    def render_kubernetes(self, options: KafkaOptions, kube: KubeContext) -> KubeRender:
        from leapfrog.components._kafka_kube import render_kafka

        return render_kafka(options, kube)


def existing_cluster_id(data_dir: Path) -> str | None:
    try:
        text = (data_dir / CLUSTER_ID).read_text().strip()
    except OSError:
        return None
    return text or None


def new_cluster_id() -> str:
    """A random Kafka Uuid in its text form (22 characters of URL-safe base64)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka avoids these: they read as a command-line flag
            return text


def training_options(options: KafkaOptions) -> KafkaOptions:
    """The stack's options on ports free now, for the install's one training start."""
    port, controller_port = free_ports(2)
    # Without the exporter: the archive is of the broker's own classes.
    update = {"port": port, "controller_port": controller_port, "jmx_exporter_port": None}
    return options.model_copy(update=update)


def _bootstrap(where: Instance) -> str:
    return f"{where.address}:{where.port}"
