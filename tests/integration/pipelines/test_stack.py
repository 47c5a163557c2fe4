"""The pipelines in a stack, through `leapfrog up`: in `leapfrog status` with their lag,
events and points searchable, and everything still there after `down` and `up`, with
no duplicate when the pipelines resume."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from leapfrog.testing import StackDir
from tests.integration.pipelines.conftest import event, wait_for

pytestmark = pytest.mark.integration

STACK = """\
name: pipes
components:
  kafka:
    topics: {logs: {partitions: 2}, metrics: {partitions: 1}}
  opensearch: {}
  influxdb: {}
  logs-pipeline: {}
  metrics-pipeline: {database: pipes}
"""


def addresses(stack: StackDir) -> dict[str, str]:
    return {item["name"]: item["address"] for item in stack.status()}


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for value in values:
        producer.produce(topic, value=value)
    assert producer.flush(60) == 0


def documents(url: str, run: str) -> int:
    httpx.post(f"{url}/logs-*/_refresh", timeout=30)
    # The test's own events: the stack's logs go to the same indices, and one of its
    # programs once logged a line naming the run (each event's id is its _id, so the
    # events themselves cannot be there twice).
    query = f"message:{run} AND service:loadgen"
    answer = httpx.get(f"{url}/logs-*/_count", params={"q": query}, timeout=30)
    return int(answer.json().get("count", 0))


def points(url: str, run: str) -> int:
    query = f"SELECT count(seq) FROM probe WHERE run = '{run}'"
    answer: dict[str, Any] = httpx.get(
        f"{url}/query", params={"db": "pipes", "q": query}, timeout=30
    ).json()
    series = answer["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def lines(run: str, first: int, count: int) -> list[bytes]:
    now = time.time_ns()
    return [f"probe,run={run} seq={i}i {now + i}".encode() for i in range(first, first + count)]


@pytest.mark.timeout(900)
def test_pipelines_in_a_stack_survive_down_and_up() -> None:
    run = uuid.uuid4().hex[:8]
    with StackDir(STACK, catalog=False) as stack:
        result = stack.up(timeout=400)
        assert result.code == 0, result.output
        where = addresses(stack)
        bootstrap = f"{where['kafka-1']}:9092"
        os_url = f"http://{where['opensearch-1']}:9200"
        influx_url = f"http://{where['influxdb-1']}:8086"
        produce(bootstrap, "logs", [event(i, run) for i in range(100)])
        produce(bootstrap, "metrics", [b"\n".join(lines(run, 0, 100))])
        wait_for(lambda: documents(os_url, run) == 100, 120, "events searchable")
        wait_for(lambda: points(influx_url, run) == 100, 120, "points queryable")

        def settled() -> bool:
            items = {i["name"]: i for i in stack.status()}
            pipes = [items["logs-pipeline-1"], items["metrics-pipeline-1"]]
            # last_check: what the latest probe saw (every 5 s), which `status` shows.
            return all(
                p["state"] == "healthy" and "lag 0," in p["last_check"] and " up" in p["last_check"]
                for p in pipes
            )

        wait_for(settled, 60, "both pipelines healthy with lag 0 in `leapfrog status`")
        # The table says the same, each pipeline's own line (its lag is the one of that
        # moment: the stack's own logs keep flowing in, so it need not be 0 any more).
        table = stack.cli("status").output
        said = {line.split()[0]: line for line in table.splitlines() if line.strip()}
        assert re.search(r"healthy .* lag \d+, [\d.]+/s, opensearch up", said["logs-pipeline-1"])
        assert re.search(r"healthy .* lag \d+, [\d.]+/s, influxdb up", said["metrics-pipeline-1"])
        # Their own metrics reach InfluxDB through Kafka like any other.
        wait_for(
            lambda: (
                "leapfrog_pipeline_lag"
                in httpx.get(
                    f"{influx_url}/query", params={"db": "pipes", "q": "SHOW MEASUREMENTS"}
                ).text
            ),
            60,
            "the pipelines' own metrics in InfluxDB",
        )

        down = stack.down()
        assert down.code == 0, down.output
        result = stack.up(timeout=400)
        assert result.code == 0, result.output
        assert documents(os_url, run) == 100
        assert points(influx_url, run) == 100
        produce(bootstrap, "logs", [event(i, run) for i in range(100, 200)])
        produce(bootstrap, "metrics", [b"\n".join(lines(run, 100, 100))])
        wait_for(lambda: documents(os_url, run) >= 200, 120, "new events after up")
        wait_for(lambda: points(influx_url, run) >= 200, 120, "new points after up")
        time.sleep(3)
        assert documents(os_url, run) == 200
        assert points(influx_url, run) == 200
