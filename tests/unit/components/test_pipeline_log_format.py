"""The pipelines' log lines (as `leapfrog pipeline` writes them) parsed into events."""

from __future__ import annotations

import pytest

from leapfrog.components.logs_pipeline import LogsPipeline, LogsPipelineOptions
from leapfrog.components.metrics_pipeline import MetricsPipeline, MetricsPipelineOptions
from leapfrog.telemetry import LogAssembler, LogFormat

LINES = [
    "2026-12-05 23:48:25,495 ERROR FAIL [logs-pipeline-1#consumer-3] [thrd:127.45.0.2:9092/"
    "bootstrap]: 127.45.0.2:9092/bootstrap: Connect failed: Connection refused",
    "2026-12-05 23:48:35,170 INFO assigned logs[0], logs[1], logs[2]",
]


@pytest.mark.parametrize(
    "log_format",
    [
        LogsPipeline().log_format(LogsPipelineOptions()),
        MetricsPipeline().log_format(MetricsPipelineOptions()),
    ],
)
def test_each_line_is_an_event_with_its_level(log_format: LogFormat) -> None:
    assembler = LogAssembler(log_format)
    events = [e for line in LINES for e in assembler.feed(line)] + assembler.flush()
    assert [e["level"] for e in events] == ["error", "info"]
    assert events[1]["message"] == "assigned logs[0], logs[1], logs[2]"
    assert {e["logger"] for e in events} == {"leapfrog.pipelines"}
