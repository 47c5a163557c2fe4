"""The logs pipeline: Kafka's `logs` topic into OpenSearch's daily `logs-YYYY.MM.DD`
indices, bad records to `logs.dlq` (see docs/pipelines.md)."""

from __future__ import annotations

from pydantic import Field

from leapfrog.components._pipeline import PipelineComponent, PipelineOptions

__all__ = ["LogsPipeline", "LogsPipelineOptions"]


class LogsPipelineOptions(PipelineOptions):
    """Log events from Kafka into OpenSearch, one index per day."""

    index_prefix: str = Field(
        "logs",
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,60}$",
        description="Indices are PREFIX-YYYY.MM.DD, created from the template `leapfrog-PREFIX`.",
    )
    retention_days: int = Field(
        7, ge=0, le=36500, description="Daily indices older than this are deleted; 0 keeps all."
    )


class LogsPipeline(PipelineComponent[LogsPipelineOptions]):
    kind = "logs-pipeline"
    options_model = LogsPipelineOptions
    default_port = 9610
    description = "Kafka's log events into OpenSearch (leapfrog's own pipeline)"
    store_env = "OPENSEARCH_URL"
    sink = "logs"

    def sink_args(self, options: LogsPipelineOptions) -> list[str]:
        return [
            "--prefix", options.index_prefix,
            "--retention-days", str(options.retention_days),
        ]  # fmt: skip
