"""Flink through `leapfrog up`: the runtime hands the cluster Kafka's address, the job
(Kafka in, Kafka out) runs and shows in `leapfrog status`, the logs name each process,
`down` stops the job with a savepoint, and the next `up` resumes it from that savepoint;
a changed job file replaces the job from a savepoint too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer

from leapfrog.testing import StackDir, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

STACK = """\
catalog: {enabled: false}
components:
  kafka:
    topics: {words: {}, shouted: {}}
  flink:
    checkpoint_interval: 2s
    jobs:
      shout: {file: shout.sql, connectors: [kafka]}
"""
JOB = """\
CREATE TABLE words (word STRING) WITH (
  'connector' = 'kafka', 'topic' = 'words',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
  'properties.group.id' = 'shout', 'scan.startup.mode' = 'group-offsets',
  'properties.auto.offset.reset' = 'earliest', 'format' = 'raw');
CREATE TABLE shouted (word STRING) WITH (
  'connector' = 'kafka', 'topic' = 'shouted',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}', 'format' = 'raw');
INSERT INTO shouted SELECT UPPER(word) || '%s' FROM words;
"""


@pytest.fixture(scope="module")
def stack() -> Iterator[StackDir]:
    with StackDir(STACK, prefix="leapfrog-e2e-flink-") as stack:
        (stack.root / "shout.sql").write_text(JOB % "!")
        result = stack.up(timeout=600)
        assert result.code == 0, result.output
        yield stack


def rest(stack: StackDir, path: str) -> Any:
    flink = stack.instance("flink-1")
    response = httpx.get(f"http://{flink['address']}:{flink['port']}{path}", timeout=5.0)
    response.raise_for_status()
    return response.json()


def kafka(stack: StackDir) -> str:
    item = stack.instance("kafka-1")
    return f"{item['address']}:{item['port']}"


def shout_and_hear(stack: StackDir, word: str, heard: str) -> None:
    producer = Producer({"bootstrap.servers": kafka(stack)})
    producer.produce("words", word.encode())
    producer.flush(10)
    consumer = Consumer(
        {
            "bootstrap.servers": kafka(stack),
            "group.id": f"e2e-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(["shouted"])
    seen: list[bytes] = []

    def got() -> bool:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            seen.append(message.value())
        return heard.encode() in seen

    try:
        wait_until(got, timeout=120, what=f"{heard} in `shouted`")
    finally:
        consumer.close()


def running(stack: StackDir) -> dict[str, Any]:
    def one() -> dict[str, Any] | None:
        jobs = [j for j in rest(stack, "/jobs/overview")["jobs"] if j["state"] == "RUNNING"]
        assert len(jobs) <= 1, jobs
        return jobs[0] if jobs else None

    return wait_until(one, timeout=60, what="the job running")


def test_the_job_runs_with_kafkas_address_from_the_runtime(stack: StackDir) -> None:
    status = stack.instance("flink-1")
    assert status["state"] == "healthy"
    assert "shout RUNNING" in (status.get("last_check") or status["detail"]), status
    shout_and_hear(stack, "hello", "HELLO!")
    assert stack.cli("logs", "flink").code == 0
    log = stack.log("flink-1")
    assert "[jobmanager]" in log and "[taskmanager-1]" in log and "job shout submitted" in log


def test_down_takes_a_savepoint_and_up_resumes_from_it(stack: StackDir) -> None:
    first = running(stack)
    wait_until(
        lambda: rest(stack, f"/jobs/{first['jid']}/checkpoints")["counts"]["completed"] > 0,
        timeout=60,
        what="a completed checkpoint",
    )
    assert stack.down().code == 0
    assert "job shout stopped with savepoint" in stack.log("flink-1")
    result = stack.up(timeout=600)
    assert result.code == 0, result.output
    second = running(stack)
    restored = rest(stack, f"/jobs/{second['jid']}/checkpoints")["latest"]["restored"]
    assert restored["is_savepoint"] is True
    shout_and_hear(stack, "again", "AGAIN!")


def test_a_changed_job_file_replaces_the_job_from_a_savepoint(stack: StackDir) -> None:
    before = running(stack)
    (stack.root / "shout.sql").write_text(JOB % "?!")
    result = stack.up(timeout=600)
    assert result.code == 0, result.output
    after = running(stack)
    assert after["jid"] != before["jid"]
    restored = rest(stack, f"/jobs/{after['jid']}/checkpoints")["latest"]["restored"]
    assert restored["is_savepoint"] is True
    shout_and_hear(stack, "changed", "CHANGED?!")
