"""`leapfrog pipeline logs|metrics`: Kafka -> OpenSearch / InfluxDB; the
`logs-pipeline` and `metrics-pipeline` components run them."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from leapfrog.shared.errors import LeapfrogError

__all__ = ["configure_logging", "pipeline"]


@click.group()
def pipeline() -> None:
    """Pipelines from Kafka into the logs and metrics stores (see docs/pipelines.md)."""


def _common(default_topic: str, default_port: int) -> Callable[[Any], Any]:
    def decorate(command: Any) -> Any:
        options = [
            click.option(
                "--kafka",
                envvar="KAFKA_BOOTSTRAP_SERVERS",
                default="127.0.0.1:9092",
                show_default=True,
                help="Kafka's bootstrap servers [env: KAFKA_BOOTSTRAP_SERVERS].",
            ),
            click.option("--topic", default=default_topic, show_default=True),
            click.option(
                "--dlq-topic", default=None, help="Dead-letter topic [default: TOPIC.dlq]."
            ),
            click.option(
                "--group",
                default=None,
                help="Consumer group [default: leapfrog-TOPIC-pipeline].",
            ),
            click.option(
                "--listen",
                default=f"127.0.0.1:{default_port}",
                show_default=True,
                help="Address of /health and /metrics.",
            ),
            click.option("--instance", default=None, help="This instance's name [default: host]."),
            click.option(
                "--batch-size", type=click.IntRange(1, 100_000), default=2000, show_default=True
            ),
            click.option(
                "--data-dir",
                type=click.Path(file_okay=False, path_type=Path),
                default=None,
                help="Where the spool of the pipeline's own metrics lives.",
            ),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@pipeline.command(name="logs")
@_common("logs", 9610)
@click.option(
    "--url",
    envvar="OPENSEARCH_URL",
    default="http://127.0.0.1:9200",
    show_default=True,
    help="OpenSearch [env: OPENSEARCH_URL].",
)
@click.option("--prefix", default="logs", show_default=True, help="Indices are PREFIX-YYYY.MM.DD.")
@click.option(
    "--retention-days",
    type=click.IntRange(0, 36500),
    default=7,
    show_default=True,
    help="Delete daily indices older than this; 0 keeps them all.",
)
def logs_cmd(url: str, prefix: str, retention_days: int, **common: Any) -> None:
    """Log events from Kafka into OpenSearch's daily indices; runs until SIGTERM."""
    from leapfrog.pipelines import OpenSearchSink

    sink = OpenSearchSink(url, prefix=prefix, retention_days=retention_days)
    _run("logs", sink, **common)


@pipeline.command(name="metrics")
@_common("metrics", 9611)
@click.option(
    "--url",
    envvar="INFLUXDB_URL",
    default="http://127.0.0.1:8086",
    show_default=True,
    help="InfluxDB 1.x [env: INFLUXDB_URL].",
)
@click.option("--database", default="leapfrog", show_default=True)
@click.option("--retention-policy", default="", help="Write into this retention policy.")
def metrics_cmd(url: str, database: str, retention_policy: str, **common: Any) -> None:
    """Metric lines from Kafka into an InfluxDB database; runs until SIGTERM."""
    from leapfrog.pipelines import InfluxSink

    sink = InfluxSink(url, database=database, retention_policy=retention_policy)
    _run("metrics", sink, **common)


def _run(
    name: str,
    sink: Any,
    *,
    kafka: str,
    topic: str,
    dlq_topic: str | None,
    group: str | None,
    listen: str,
    instance: str | None,
    batch_size: int,
    data_dir: Path | None,
) -> None:
    from leapfrog.pipelines import KafkaSettings, PipelineSettings, run_pipeline

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise LeapfrogError(f"--listen {listen}: expected HOST:PORT", hint="e.g. 127.0.0.1:9610")
    me = instance or socket.gethostname()
    configure_logging()
    settings = PipelineSettings(
        name=name,
        kafka=KafkaSettings(
            bootstrap=kafka,
            topic=topic,
            dlq_topic=dlq_topic or f"{topic}.dlq",
            group=group or f"leapfrog-{topic}-pipeline",
            client_id=me,
        ),
        batch_size=batch_size,
    )
    try:
        run_pipeline(
            settings,
            sink,
            listen=(host, int(port)),
            instance=me,
            spool_dir=data_dir / "spool" if data_dir else None,
        )
    except OSError as exc:
        raise LeapfrogError(f"cannot listen on {listen}: {exc.strerror or exc}") from None


def configure_logging() -> None:
    """INFO lines to stderr, but not httpx's line per request: the collector ships this
    log to the `logs` topic, so a line per `_bulk` write would be a record to write,
    written with a `_bulk` that logs a line... the logs pipeline would feed itself forever."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
