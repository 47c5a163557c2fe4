"""Kafka -> store pipelines: log events into OpenSearch, metric lines into InfluxDB.

One loop (`Pipeline`: consume, decode, write, dead-letter, commit after the store's
acknowledgement, back off while it is down) and one `Sink` per store. The `logs-pipeline`
and `metrics-pipeline` components run them as `leapfrog pipeline logs|metrics`.
See docs/pipelines.md.
"""

from leapfrog.pipelines._influxdb import InfluxSink, MetricLine
from leapfrog.pipelines._kafka import DeadLetter, KafkaSettings
from leapfrog.pipelines._lineproto import LineCheck, check_line
from leapfrog.pipelines._opensearch import LogDocument, OpenSearchSink, index_template
from leapfrog.pipelines._run import run_pipeline
from leapfrog.pipelines._runner import Backoff, Pipeline, PipelineSettings
from leapfrog.pipelines._sink import (
    Decoded,
    ItemOutcome,
    Rejected,
    Retry,
    Sink,
    SinkUnavailable,
)
from leapfrog.pipelines._stats import PipelineStats, serve_stats

__all__ = [
    "Backoff",
    "DeadLetter",
    "Decoded",
    "InfluxSink",
    "ItemOutcome",
    "KafkaSettings",
    "LineCheck",
    "LogDocument",
    "MetricLine",
    "OpenSearchSink",
    "Pipeline",
    "PipelineSettings",
    "PipelineStats",
    "Rejected",
    "Retry",
    "Sink",
    "SinkUnavailable",
    "check_line",
    "index_template",
    "run_pipeline",
    "serve_stats",
]
