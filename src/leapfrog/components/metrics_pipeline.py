"""The metrics pipeline: Kafka's `metrics` topic (line protocol) into an InfluxDB
database, bad lines to `metrics.dlq` (see docs/pipelines.md)."""

from __future__ import annotations

from pydantic import Field

from leapfrog.components._pipeline import PipelineComponent, PipelineOptions

__all__ = ["MetricsPipeline", "MetricsPipelineOptions"]


class MetricsPipelineOptions(PipelineOptions):
    """Metric lines from Kafka into InfluxDB."""

    port: int = Field(
        9611, ge=1, le=65535, description="Port of the pipeline's /health and /metrics."
    )
    topic: str = Field("metrics", min_length=1, description="The Kafka topic it consumes.")
    database: str = Field(
        "leapfrog",
        min_length=1,
        max_length=64,
        description="The InfluxDB database the stack's metrics go to (created if missing).",
    )
    retention_policy: str | None = Field(
        None, description="Write into this retention policy instead of the database's default."
    )


class MetricsPipeline(PipelineComponent[MetricsPipelineOptions]):
    kind = "metrics-pipeline"
    options_model = MetricsPipelineOptions
    default_port = 9611
    description = "Kafka's metric lines into InfluxDB (leapfrog's own pipeline)"
    store_env = "INFLUXDB_URL"
    sink = "metrics"

    def sink_args(self, options: MetricsPipelineOptions) -> list[str]:
        argv = ["--database", options.database]
        if options.retention_policy:
            argv += ["--retention-policy", options.retention_policy]
        return argv
