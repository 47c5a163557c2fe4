"""The platform's statistics job on a real Flink cluster and a real Kafka: the load
balancer's access events for a known load go in (in the exact shape `lb/_accesslog`
gives them), and `service-stats` holds, per service, route and 10 s window, exactly the
count, 5xx count, latency percentiles and bytes of what was sent, in JSON and as the
InfluxDB line protocol the metrics pipeline carries. A TaskManager killed with SIGKILL in
the middle of a load loses and double-counts nothing (exactly-once: each window's record
is committed once, with a checkpoint). The example team job (`examples/flink.yaml`,
events per type per minute) runs on the same cluster and counts a known input exactly."""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from leapfrog.components._flink_jobs import STATE_FILE
from leapfrog.components._kafka_admin import committed_offsets
from leapfrog.lb._accesslog import haproxy_access_json
from leapfrog.shared.files import read_json
from leapfrog.spec.loader import load_stack
from leapfrog.testing import RunningComponent, run_component, scratch_dir, wait_until
from tests.integration.components.test_flink import descendants, rest, running_job

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

KAFKA_ADDRESS = "127.0.0.76"
FLINK_ADDRESS = "127.0.0.77"
WINDOW = 10
LATENESS = 2
REPO = Path(__file__).resolve().parents[3]
EXAMPLE_STACK = REPO / "examples" / "flink.yaml"


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
    with scratch_dir("lf-flink-stats-") as base:
        (base / "kafka").mkdir(mode=0o755)
        (base / "flink").mkdir(mode=0o755)
        topics = ("logs", "service-stats", "metrics", "events-per-minute")
        kafka_options = {"topics": {**{t: {} for t in topics}, "events": {"partitions": 3}}}
        with run_component("kafka", kafka_options, base / "kafka", address=KAFKA_ADDRESS) as kafka:
            bootstrap = kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
            options = {
                "service_stats": {"lateness": f"{LATENESS}s"},
                "checkpoint_interval": "2s",
                "jobs": example_jobs(),
            }
            with run_component(
                "flink", options, base / "flink", address=FLINK_ADDRESS, start=False
            ) as flink:
                # What the runtime hands the cluster (`uses_catalog`): the components' env.
                env = {**flink.process.env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
                flink.process = replace(flink.process, env=env)
                flink.start()
                yield kafka, flink


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
    # Nor an event whose time is not ISO-8601 UTC (it would count in the second window).
    unreadable = access_event((start + WINDOW + 1, "hello", "/items", 200, 5, 10))
    producer.produce("logs", unreadable.replace(b'"ts":"', b'"ts":"at ', 1))
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


def example_jobs() -> dict[str, Any]:
    """The jobs `examples/flink.yaml` declares, as written there (files from the repo)."""
    flink = load_stack(EXAMPLE_STACK).spec.components["flink"]
    jobs: dict[str, Any] = dict(flink["jobs"])
    return {
        name: {**job, "file": str(EXAMPLE_STACK.parent / job["file"])} for name, job in jobs.items()
    }


def completed_checkpoints(flink: RunningComponent, job_id: str) -> int:
    return int(rest(flink, f"/jobs/{job_id}/checkpoints")["counts"]["completed"])


def all_tasks_running(flink: RunningComponent, job_id: str) -> bool:
    vertices = rest(flink, f"/jobs/{job_id}")["vertices"]
    return all(v["status"] == "RUNNING" for v in vertices)


def job_story(flink: RunningComponent, job_id: str) -> str:
    """What a failure message needs: the job's tasks, checkpoints and recent exceptions."""
    job = rest(flink, f"/jobs/{job_id}")
    checkpoints = rest(flink, f"/jobs/{job_id}/checkpoints")
    exceptions = rest(flink, f"/jobs/{job_id}/exceptions")
    return json.dumps(
        {
            "state": job["state"],
            "tasks": {v["name"][:60]: v["status"] for v in job["vertices"]},
            "checkpoints": checkpoints["counts"],
            "exceptions": [
                e.get("exceptionName")
                for e in exceptions.get("exceptionHistory", {}).get("entries", [])
            ][:5],
        }
    )


def taskmanager_pids(flink: RunningComponent) -> list[int]:
    assert flink.popen is not None
    return [
        pid
        for pid in descendants(flink.popen.pid)
        if "TaskManagerRunner" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    ]


def read_committed(bootstrap: str, topic: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    return consumer


def partition_end(bootstrap: str, topic: str, partition: int) -> int:
    from confluent_kafka import TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "flink-stats-test"})
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        consumer.close()
    return int(high)


def collect(
    consumer: Consumer, key: Any, wanted: set[Any], settle: float, timeout: float = 240.0
) -> tuple[Counter[Any], dict[Any, dict[str, Any]]]:
    """How many times each row (by `key(row)`, None to skip) was read: until every wanted
    key was, then `settle` seconds more, so a second copy would have shown."""
    seen: Counter[Any] = Counter()
    rows: dict[Any, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    settled: float | None = None
    try:
        while time.monotonic() < (settled or deadline):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                row = json.loads(message.value() or b"{}")
                found = key(row)
                if found is not None:
                    seen[found] += 1
                    rows[found] = row
            if settled is None and wanted <= set(seen):
                settled = time.monotonic() + settle
    finally:
        consumer.close()
    return seen, rows


def test_a_taskmanager_killed_during_a_load_loses_and_double_counts_nothing(
    stack: tuple[RunningComponent, RunningComponent],
) -> None:
    kafka, flink = stack
    bootstrap = kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
    job = wait_until(lambda: running_job(flink, "service-stats"), 120, 0.5, "the stats job running")
    checkpoints_before = completed_checkpoints(flink, job["jid"])

    # A load in real time, ~50 requests/s over 30 s (three or four windows), for two
    # services; the TaskManager running the job is killed 10 s in.
    sent: list[Sent] = []
    load_seconds = 30.0

    def load() -> None:
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        end, i = time.time() + load_seconds, 0
        while time.time() < end:
            service = "kill-a" if i % 3 else "kill-b"
            status = 500 if i % 9 == 0 else 200
            event: Sent = (time.time(), service, f"/r{i % 2}?q={i}", status, 1 + i % 97, 10 + i % 5)
            producer.produce("logs", access_event(event))
            producer.poll(0)
            sent.append(event)
            i += 1
            time.sleep(0.02)
        assert producer.flush(30) == 0

    loader = threading.Thread(target=load)
    loader.start()
    # At least one checkpoint during the load: the kill then falls between two commits.
    wait_until(
        lambda: completed_checkpoints(flink, job["jid"]) > checkpoints_before + 1,
        30,
        0.5,
        "checkpoints during the load",
    )
    time.sleep(max(0.0, 10.0 - (time.time() - sent[0][0])))
    (victim,) = taskmanager_pids(flink)
    os.kill(victim, signal.SIGKILL)
    assert loader.is_alive(), "the kill must fall inside the load"
    loader.join()

    # The job came back by itself, from a checkpoint (not a savepoint, not from scratch).
    def restored() -> Any:
        found = running_job(flink, "service-stats")
        if found is None:
            return None
        latest = rest(flink, f"/jobs/{found['jid']}/checkpoints")["latest"]
        return latest.get("restored")

    restore = wait_until(
        restored, timeout=180, interval=0.5, what="the job restored from a checkpoint"
    )
    assert restore["is_savepoint"] is False, restore

    # One event far enough after the load closes its last window.
    last = max(ts for ts, *_ in sent)
    closing: Sent = (last + WINDOW + LATENESS + 1, "kill-close", "/", 200, 1, 1)
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce("logs", access_event(closing))
    assert producer.flush(10) == 0

    expected: dict[tuple[str, str, str], list[Sent]] = {}
    for event in sent:
        ts, service, path, *_ = event
        key = (service, path.split("?")[0], utc(int(ts) // WINDOW * WINDOW))
        expected.setdefault(key, []).append(event)
    seen, rows = collect(
        read_committed(bootstrap, "service-stats"),
        lambda row: (
            (row["service"], row["route"], row["window_start"])
            if row["service"] in ("kill-a", "kill-b")
            else None
        ),
        set(expected),
        settle=3 * 2.0 + 2,  # three more checkpoints
    )
    assert set(seen) == set(expected), f"missing: {set(expected) - set(seen)}"
    assert [k for k, n in seen.items() if n > 1] == [], "windows written twice"
    for key, events in expected.items():
        row = rows[key]
        assert row["requests"] == len(events), key
        assert row["errors"] == sum(e[3] >= 500 for e in events), key
        assert row["bytes"] == sum(e[5] for e in events), key
        ms = [float(e[4]) for e in events]
        assert row["p99_ms"] == pytest.approx(percentile(ms, 0.99), abs=1e-9), key
    assert sum(r["requests"] for r in rows.values()) == len(sent)


def test_the_example_team_job_counts_events_per_type_per_minute(
    stack: tuple[RunningComponent, RunningComponent],
) -> None:
    kafka, flink = stack
    bootstrap = kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
    records = read_json(flink.where.data_dir / STATE_FILE) or {}
    assert records["events-per-minute"].get("error") is None, records
    # Running with every task deployed and checkpointing (after the TaskManager kill of
    # the test before, the restored job may still wait for the new TaskManager's slots).
    job = wait_until(
        lambda: running_job(flink, "events-per-minute"), 120, 0.5, "the example job running"
    )
    wait_until(lambda: all_tasks_running(flink, job["jid"]), 120, 0.5, "its tasks running")
    before = completed_checkpoints(flink, job["jid"])
    wait_until(lambda: completed_checkpoints(flink, job["jid"]) > before, 60, 0.5, "a checkpoint")

    # Three whole minutes in the past, records as hello writes them; then, on every
    # partition, one event past the last minute's end plus the job's 5 s lateness.
    start = (int(time.time()) // 60 - 5) * 60
    counts = {"signup": (3, 0, 7), "order": (11, 4, 1), "click": (25, 30, 19)}
    sent: list[dict[str, Any]] = []
    for kind, per_minute in counts.items():
        for minute, n in enumerate(per_minute):
            for i in range(n):
                accepted = start + minute * 60 + (i * 59.0 / max(n, 1))
                sent.append(
                    {
                        "type": kind,
                        "data": {"i": i},
                        "id": str(uuid.uuid4()),
                        "accepted_at": accepted,
                        "accepted_by": "hello-1",
                    }
                )
    # In the order of their times, and on one partition: hello's events are seconds old
    # when they arrive, these minutes. Spread over partitions, the partition fetched
    # first moves the watermark minutes ahead while the others are still idle (the job's
    # 10 s idle timeout leaves them out of it), and their older records come late and
    # are dropped (seen twice: 1 of 3 signups counted).
    # And read by the job before any tick: a tick on another partition fetched before
    # them would move the watermark past their minutes (partition 0, idle for the 10 s
    # before, is left out of it until its records are read), and they would all come
    # late (seen once under load: nothing counted). The job's source commits what it read
    # to its group with each checkpoint.
    producer = Producer({"bootstrap.servers": bootstrap})
    for record in sorted(sent, key=lambda r: float(r["accepted_at"])):
        producer.produce("events", json.dumps(record).encode(), key=record["id"], partition=0)
    assert producer.flush(10) == 0
    end = partition_end(bootstrap, "events", 0)
    wait_until(
        lambda: (
            committed_offsets(bootstrap, "events-per-minute", [("events", 0)], 10.0).get(
                ("events", 0), -1
            )
            >= end
        ),
        120,
        0.5,
        "the job reading the events",
    )
    for partition in range(3):
        tick = {"type": "tick", "data": {}, "id": "t", "accepted_at": start + 3 * 60 + 10}
        producer.produce("events", json.dumps(tick).encode(), partition=partition)
    producer.produce("events", b"not json: skipped")
    assert producer.flush(10) == 0

    expected = {
        (kind, utc(start + minute * 60)): n
        for kind, per_minute in counts.items()
        for minute, n in enumerate(per_minute)
        if n
    }
    seen, rows = collect(
        read_committed(bootstrap, "events-per-minute"),
        lambda row: (row["type"], row["minute_start"]) if row["type"] != "tick" else None,
        set(expected),
        settle=6.0,
    )
    assert set(seen) == set(expected), (
        f"missing: {set(expected) - set(seen)}; the job: {job_story(flink, job['jid'])}"
    )
    assert [k for k, n in seen.items() if n > 1] == []
    assert {k: r["events"] for k, r in rows.items()} == expected
    ends = {utc(start + minute * 60 + 60) for minute in range(3)}
    assert {r["minute_end"] for r in rows.values()} == ends
