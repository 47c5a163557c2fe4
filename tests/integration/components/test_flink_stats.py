"""The platform's statistics job on a real Flink cluster and a real Kafka: the load
balancer's access events for a known load go in (in the exact shape `lb/_accesslog`
gives them), and `service-stats` holds, per service, route and 10 s window, exactly the
count, 5xx count, latency percentiles and bytes of what was sent, in JSON and as the
InfluxDB line protocol the metrics pipeline carries."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from leapfrog.components._flink_jobs import STATE_FILE
from leapfrog.lb._accesslog import haproxy_access_json
from leapfrog.shared.files import read_json
from leapfrog.testing import RunningComponent, run_component

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

KAFKA_ADDRESS = "127.0.0.76"
FLINK_ADDRESS = "127.0.0.77"
WINDOW = 10


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between the closest ranks (what Flink's PERCENTILE computes)."""
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


Sent = tuple[float, str, str, int, int, int]
"""time, service, path, status, milliseconds, bytes"""


def utc(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def access_event(sent: Sent) -> bytes:
    """One event as the load balancer ships it (`EventSink.access_text`)."""
    ts, service, path, status, ms, size = sent
    raw = f"lf1|10.0.0.1|{status}|{size}|{ms}|be1|{service}|{service}-1|0|----|GET|{path}"
    tail = haproxy_access_json(raw)
    assert tail is not None
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(ts)))
    micros = round((ts - int(ts)) * 1e6)
    head = f'{{"ts":"{stamp}.{micros:06d}Z","logger":"lb.access","service":"lb","instance":"lb-1"'
    return (head + tail).encode()


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[RunningComponent, RunningComponent]]:
    base = Path(tempfile.mkdtemp(prefix="lf-flink-stats-"))
    base.chmod(0o755)
    (base / "kafka").mkdir(mode=0o755)
    (base / "flink").mkdir(mode=0o755)
    try:
        kafka_options = {"topics": {"logs": {}, "service-stats": {}, "metrics": {}}}
        with run_component("kafka", kafka_options, base / "kafka", address=KAFKA_ADDRESS) as kafka:
            bootstrap = kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
            options = {"service_stats": {"lateness": "2s"}}
            with run_component(
                "flink", options, base / "flink", address=FLINK_ADDRESS, start=False
            ) as flink:
                # What the runtime hands the cluster (`uses_catalog`): the components' env.
                env = {**flink.process.env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
                flink.process = replace(flink.process, env=env)
                flink.start()
                yield kafka, flink
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_stats_job_counts_a_known_load_exactly_per_window(
    stack: tuple[RunningComponent, RunningComponent],
) -> None:
    kafka, flink = stack
    record = read_json(flink.where.data_dir / STATE_FILE)["service-stats"]
    assert record.get("error") is None, record
    assert "service-stats RUNNING" in flink.health().detail

    # Three whole windows in the recent past, then one event far enough after them for
    # the watermark (its time minus the lateness) to close them.
    start = (int(time.time()) // WINDOW - 6) * WINDOW
    sent: list[Sent] = []
    for window in range(3):
        for i in range(40 + 10 * window):
            ts = start + window * WINDOW + (i * 0.197) % WINDOW
            status = 503 if i % 7 == 0 else (404 if i % 11 == 0 else 200)
            sent.append((ts, "hello", f"/items?page={i}", status, 3 + (i * 37) % 250, 100 + i))
        for i in range(5 + window):
            sent.append((start + window * WINDOW + i, "reader", "/health", 200, 1 + i, 20))
    producer = Producer({"bootstrap.servers": kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]})
    for event in sorted(sent):
        producer.produce("logs", access_event(event))
    producer.produce("logs", b"not json: the job skips what it cannot read")
    producer.produce("logs", access_event((start + 5 * WINDOW, "hello", "/late", 200, 1, 1)))
    producer.flush(10)

    expected: dict[tuple[str, str, str], dict[str, Any]] = {}
    for ts, service, path, status, ms, size in sent:
        window_start = int(ts) // WINDOW * WINDOW
        key = (service, path.split("?")[0], utc(window_start))
        entry = expected.setdefault(
            key,
            {"requests": 0, "errors": 0, "ms": [], "bytes": 0, "end": utc(window_start + WINDOW)},
        )
        entry["requests"] += 1
        entry["errors"] += 500 <= status < 600
        entry["ms"].append(float(ms))
        entry["bytes"] += size
    assert len(expected) == 6

    consumer = Consumer(
        {
            "bootstrap.servers": kafka.env()["KAFKA_BOOTSTRAP_SERVERS"],
            "group.id": "test-stats",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(["service-stats", "metrics"])
    got: dict[tuple[str, str, str], dict[str, Any]] = {}
    points: dict[tuple[str, str, str], dict[str, float]] = {}
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline and not set(expected) <= set(got) & set(points):
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            if message.topic() == "metrics":
                key, fields = line_point(message.value().decode())
                points[key] = fields
                continue
            row = json.loads(message.value())
            got[(row["service"], row["route"], row["window_start"])] = row
    finally:
        consumer.close()
    assert set(expected) <= set(got), f"missing windows: {set(expected) - set(got)}"
    for key, entry in expected.items():
        row = got[key]
        assert row["requests"] == entry["requests"], key
        assert row["errors"] == entry["errors"], key
        assert row["bytes"] == entry["bytes"], key
        for name, p in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            assert row[name] == pytest.approx(percentile(entry["ms"], p), abs=1e-9), (key, name)
        assert row["window_end"] == entry["end"]
    assert sum(r["requests"] for k, r in got.items() if k in expected) == len(sent)
    # The same numbers as InfluxDB line protocol in `metrics` (the metrics pipeline's input).
    for key, row in got.items():
        if key in expected:
            assert points[key] == {
                name: float(row[name])
                for name in ("requests", "errors", "bytes", "p50_ms", "p95_ms", "p99_ms")
            }, key


def line_point(line: str) -> tuple[tuple[str, str, str], dict[str, float]]:
    """`service_stats,service=S,route=R f=1i,... NANOS` as its key and fields."""
    series, fields, nanos = line.split(" ")
    measurement, *tags = series.split(",")
    assert measurement == "service_stats", line
    tag = dict(t.split("=", 1) for t in tags)
    values = {k: float(v.rstrip("i")) for k, v in (f.split("=", 1) for f in fields.split(","))}
    return (tag["service"], tag["route"], utc(int(nanos) // 1_000_000_000)), values
