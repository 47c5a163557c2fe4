"""The metrics pipeline into a real InfluxDB: 10,000 points through a SIGKILL of the
store, each stored exactly once; 1,000 malformed lines all dead-lettered with reasons."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from leapfrog.testing import RunningComponent, run_component
from tests.integration.pipelines.conftest import (
    PIPELINE_ADDRESS,
    Trickle,
    base_dir,
    bootstrap,
    consume_all,
    headers_of,
    kill_for,
    new_topic,
    produce,
    settled,
    wait_for,
)

pytestmark = pytest.mark.integration


def influx_url(influxdb: RunningComponent) -> str:
    return influxdb.env()["INFLUXDB_URL"]


def points(influxdb: RunningComponent, database: str, run: str) -> int:
    query = f"SELECT count(seq) FROM load WHERE run = '{run}'"
    answer = httpx.get(
        f"{influx_url(influxdb)}/query", params={"db": database, "q": query}, timeout=30
    ).json()
    series = answer["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def snapshot(run: str, first: int, lines: int, base_ns: int) -> bytes:
    """One record as the SDK ships it: several points, nanosecond timestamps."""
    return "\n".join(
        f"load,run={run},host=box seq={i}i,value={i * 0.5} {base_ns + i}"
        for i in range(first, first + lines)
    ).encode()


def metrics_pipeline(
    kafka: RunningComponent, influxdb: RunningComponent, topic: str, database: str
) -> Any:
    options = {
        "kafka": bootstrap(kafka),
        "url": influx_url(influxdb),
        "topic": topic,
        "database": database,
        "batch_size": 200,
        "port": 9612,
    }
    return run_component("metrics-pipeline", options, base_dir(database), address=PIPELINE_ADDRESS)


@pytest.mark.timeout(600)
def test_ten_thousand_points_through_a_sigkill_of_influxdb(
    kafka: RunningComponent, influxdb: RunningComponent
) -> None:
    topic = new_topic(kafka)
    run = uuid.uuid4().hex[:8]
    database = f"t{run}"
    base_ns = time.time_ns()
    records = [snapshot(run, first, 10, base_ns) for first in range(0, 10_000, 10)]
    with metrics_pipeline(kafka, influxdb, topic, database) as pipeline:
        producer = Trickle(kafka, topic, records, 25.0)
        producer.start()
        wait_for(lambda: points(influxdb, database, run) >= 1000, 120, "the first points")
        kill_for(influxdb, 10.0, meanwhile=producer)  # points keep flowing into Kafka
        producer.join(120)
        assert not producer.is_alive()
        wait_for(lambda: points(influxdb, database, run) >= 10_000, 240, "all points")
        time.sleep(3)
        assert points(influxdb, database, run) == 10_000
        health = wait_for(lambda: settled(pipeline), 30, "lag 0")
        assert health["sink_up"] and health["retries"] > 0, health
        assert health["dead_lettered"] == 0


@pytest.mark.timeout(300)
def test_malformed_lines_go_to_the_dead_letter_topic_with_reasons(
    kafka: RunningComponent, influxdb: RunningComponent
) -> None:
    topic = new_topic(kafka)
    run = uuid.uuid4().hex[:8]
    database = f"t{run}"
    base_ns = time.time_ns()
    bad_lines = [
        "load",
        f"load,run={run} seq=abc",
        f"load,run={run} seq=1i 12:00",
        ",run=x seq=1i",
        f'load,run={run} s="unclosed',
    ]
    records: list[bytes] = []
    bad = 0
    for first in range(0, 4000, 4):
        good = snapshot(run, first, 3, base_ns).decode()
        records.append(f"{good}\n{bad_lines[bad % len(bad_lines)]}".encode())
        bad += 1
    assert bad == 1000
    with metrics_pipeline(kafka, influxdb, topic, database) as pipeline:
        produce(kafka, topic, records)
        wait_for(lambda: points(influxdb, database, run) >= 3000, 180, "valid points")
        dead = consume_all(kafka, f"{topic}.dlq", 1000)
        assert len(dead) == 1000
        assert {m.value() for m in dead} == {line.encode() for line in bad_lines}
        reasons = [headers_of(m)["leapfrog.dlq.reason"] for m in dead]
        # InfluxDB's own parser judges; an unclosed string is caught before it is sent.
        by_influxdb = [r for r in reasons if r.startswith("InfluxDB could not parse the line: ")]
        by_us = [r for r in reasons if r.startswith("invalid line protocol: ")]
        assert len(by_influxdb) == 800 and len(by_us) == 200, set(reasons)
        assert all("not closed" in r for r in by_us)
        assert points(influxdb, database, run) == 3000
        health = wait_for(lambda: settled(pipeline), 30, "lag 0")
        assert health["dead_lettered"] == 1000
