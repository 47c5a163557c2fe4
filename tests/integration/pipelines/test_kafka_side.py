"""The pipeline against a real Kafka while its store is absent: it waits, commits
nothing, reports the lag, and stops cleanly on SIGTERM."""

from __future__ import annotations

import time
import uuid

import pytest

from leapfrog.testing import RunningComponent, run_component
from tests.integration.pipelines.conftest import (
    PIPELINE_ADDRESS,
    base_dir,
    bootstrap,
    committed,
    event,
    new_topic,
    pipeline_health,
    produce,
)

pytestmark = pytest.mark.integration


def test_store_down_nothing_committed_lag_reported(kafka: RunningComponent) -> None:
    topic = new_topic(kafka)
    run = uuid.uuid4().hex[:8]
    produce(kafka, topic, [event(i, run) for i in range(500)])
    options = {
        "kafka": bootstrap(kafka),
        "topic": topic,
        "url": f"http://{PIPELINE_ADDRESS}:1",  # nothing listens there
    }
    with run_component(
        "logs-pipeline", options, base_dir("down"), address=PIPELINE_ADDRESS
    ) as running:
        deadline = time.monotonic() + 60
        health = pipeline_health(running)
        while health["lag"] != 500 and time.monotonic() < deadline:
            time.sleep(0.5)
            health = pipeline_health(running)
        assert health["lag"] == 500, health
        assert health["sink_up"] is False
        assert "waiting for opensearch" in health["detail"]
        assert running.health().ok  # waiting is its job: still healthy, and says why
        assert "lag 500" in running.health().detail
        code = running.stop()
        assert code == 0, running.tail()
    group = f"leapfrog-{topic}-pipeline"
    assert all(offset < 0 for offset in committed(kafka, group, topic, 3))
