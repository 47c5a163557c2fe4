"""What the two pipeline components share: leapfrog's own process, a stats address,
health from its `/health`.

A pipeline is `python -m leapfrog pipeline logs|metrics` (`leapfrog.pipelines`). Like
the load balancer it reads what services read: the runtime hands it every component's
connection environment (`KAFKA_BOOTSTRAP_SERVERS`, `OPENSEARCH_URL`, `INFLUXDB_URL`),
so it needs no option to find Kafka or its store in the same stack (without them it
looks on 127.0.0.1 at their usual ports, and its health says what it is waiting for).
Its health is the loop's own account: alive, lag, throughput, and whether the store
answers; it stays healthy while the store is down (waiting is its job then) and says so.
"""

from __future__ import annotations

import sys
from abc import abstractmethod
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import Field

import leapfrog
from leapfrog.components.base import (
    Component,
    ComponentOptions,
    Health,
    Installation,
    Instance,
    Process,
    Progress,
)
from leapfrog.components.kube import KubeContext, KubeRender
from leapfrog.telemetry import PYTHON_LOGGING, LogFormat, Sample, prometheus_samples

__all__ = ["PipelineComponent", "PipelineOptions"]


class PipelineOptions(ComponentOptions):
    """Options every pipeline has."""

    port: int = Field(
        9610, ge=1, le=65535, description="Port of the pipeline's /health and /metrics."
    )
    topic: str = Field("logs", min_length=1, description="The Kafka topic it consumes.")
    dlq_topic: str | None = Field(
        None, description="Where records the store can never take go [default: TOPIC.dlq]."
    )
    group: str | None = Field(
        None, description="Its Kafka consumer group [default: leapfrog-TOPIC-pipeline]."
    )
    batch_size: int = Field(
        2000, ge=1, le=100_000, description="Records written to the store in one request."
    )
    url: str | None = Field(
        None,
        description="The store's URL, when it is not this stack's own component "
        "(default: the stack's OPENSEARCH_URL or INFLUXDB_URL).",
    )
    kafka: str | None = Field(
        None,
        description="Kafka's bootstrap servers, when not this stack's own Kafka "
        "(default: the stack's KAFKA_BOOTSTRAP_SERVERS).",
    )


OptionsT = TypeVar("OptionsT", bound=PipelineOptions)


class PipelineComponent(Component[OptionsT]):
    runs_leapfrog: ClassVar[bool] = True
    uses_catalog: ClassVar[bool] = True
    host_network: ClassVar[bool] = True
    """The runtime hands it the components' connection environment, as to services."""
    sink: ClassVar[str]
    """The `leapfrog pipeline` subcommand: `logs` or `metrics`."""
    store_env: ClassVar[str]
    """The variable holding the store's URL: `OPENSEARCH_URL`, `INFLUXDB_URL`."""

    def install(self, options: OptionsT, cache_dir: Path, progress: Progress) -> Installation:
        return Installation(version=leapfrog.__version__, home=Path(sys.executable).parent)

    def process(self, options: OptionsT, installation: Installation, where: Instance) -> Process:
        argv = [
            sys.executable, "-m", "leapfrog", "pipeline", self.sink,
            "--listen", f"{where.address}:{self.port(options)}",
            "--instance", where.instance,
            "--topic", options.topic,
            "--batch-size", str(options.batch_size),
            "--data-dir", str(where.data_dir),
        ]  # fmt: skip
        if options.dlq_topic:
            argv += ["--dlq-topic", options.dlq_topic]
        if options.group:
            argv += ["--group", options.group]
        if options.url:
            argv += ["--url", options.url]
        if options.kafka:
            argv += ["--kafka", options.kafka]
        argv += self.sink_args(options)
        return Process(
            argv=tuple(argv),
            env={"PYTHONUNBUFFERED": "1"},
            # A batch in hand when it stops is simply not committed: Kafka replays it.
            stop_grace_period=15.0,
            start_timeout=60.0,
        )

    @abstractmethod
    def sink_args(self, options: OptionsT) -> list[str]:
        """The store's own options as command-line arguments."""

    async def health(self, options: OptionsT, where: Instance) -> Health:
        url = f"http://{where.address}:{self.port(options)}/health"
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                response = await client.get(url)
            answer: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return Health(False, f"GET /health: {exc or type(exc).__name__}")
        return Health(response.status_code == 200, str(answer.get("detail", "")))

    async def metrics(self, options: OptionsT, where: Instance) -> list[Sample]:
        """Its own /metrics page: lag, throughput, time by step (`pipeline_...`)."""
        url = f"http://{where.address}:{self.port(options)}/metrics"
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(url)
        response.raise_for_status()
        return prometheus_samples(response.text)

    def render_kubernetes(self, options: OptionsT, kube: KubeContext) -> KubeRender:
        from leapfrog.components._pipeline_kube import render_pipeline

        argv = [self.sink, "--topic", options.topic, "--batch-size", str(options.batch_size)]
        if options.dlq_topic:
            argv += ["--dlq-topic", options.dlq_topic]
        if options.group:
            argv += ["--group", options.group]
        needs = []
        if options.url:
            argv += ["--url", options.url]
        else:
            needs.append(self.store_env)
        if options.kafka:
            argv += ["--kafka", options.kafka]
        else:
            needs.append("KAFKA_BOOTSTRAP_SERVERS")
        argv += self.sink_args(options)
        return render_pipeline(self.kind, argv, self.port(options), tuple(needs), kube)

    def log_format(self, options: OptionsT) -> LogFormat:
        # `leapfrog pipeline` logs as basicConfig does (time, level, message): the level
        # of a line such as Kafka being unreachable (ERROR) is kept.
        return replace(PYTHON_LOGGING, default_logger="leapfrog.pipelines")

    def connection_env(self, options: OptionsT, where: Instance) -> dict[str, str]:
        """Where its /health and /metrics are (`LEAPFROG_LOGS_PIPELINE_URL`)."""
        name = self.kind.upper().replace("-", "_")
        return {f"LEAPFROG_{name}_URL": f"http://{where.address}:{self.port(options)}"}
