"""Benchmark: the Kafka -> store pipelines against writing straight to the store.

Three measurements, each with its baseline in the same run, against a real Kafka,
OpenSearch and InfluxDB started once by this script through their components:

* logs: events/s of `leapfrog pipeline logs` (Kafka -> decode -> `_bulk` -> commit)
  draining a topic that holds N events, against a bare bulk loader posting the same
  documents, already encoded as `_bulk` bodies of the same size, straight to
  OpenSearch. Target: pipeline >= 0.8x the loader.
* latency: `logger.info` in a process (the telemetry `KafkaLogHandler`, as a service
  logs) to searchable in OpenSearch, at a bounded rate: p50 and p99. A searcher polls
  every 100 ms, so a latency includes up to 100 ms of polling. Target: p99 <= 2 s with
  OpenSearch's default refresh interval (1 s).
* metrics: points/s of `leapfrog pipeline metrics` draining a topic of N points (SDK-like
  snapshots of 100 lines), against posting the same lines in chunks of 5,000 straight
  to `/write`, one request after the other. The pipeline has two requests in flight
  (see docs/pipelines.md). Target: pipeline >= 0.8x.

Rates count from the first acknowledged batch to the last (both sides), so neither
side's start-up is in them. One untimed baseline round warms the store up (OpenSearch's
JIT); then rounds alternate baseline and pipeline, and medians are reported.

Run as `.venv/bin/python bench/pipelines.py [--events 40000] [--points 200000]
[--rounds 2] [--rate 1000] [--seconds 15] [--only logs,latency,metrics] [--json]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from _shared import BenchError, no_interrupt
from leapfrog.pipelines import OpenSearchSink
from leapfrog.telemetry import KafkaLogHandler, LogShipper, ShipperSettings
from leapfrog.testing import RunningComponent, run_component

KAFKA, OPENSEARCH, INFLUXDB, PIPELINE = "127.88.1.1", "127.88.1.2", "127.88.1.3", "127.88.1.4"
TARGET_RATIO = 0.8
TARGET_P99 = 2.0


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def started(kind: str, address: str) -> Iterator[RunningComponent]:
    base = Path(tempfile.mkdtemp(prefix=f"lf-bench-{kind}-"))
    base.chmod(0o755)
    try:
        log(f"starting {kind} ...")
        with run_component(kind, {}, base, address=address) as running:
            try:
                yield running
            finally:
                with no_interrupt():
                    running.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


class Platform:
    def __init__(
        self, kafka: RunningComponent, os_: RunningComponent | None, influx: RunningComponent | None
    ) -> None:
        self.bootstrap = kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
        self.os_url = os_.env()["OPENSEARCH_URL"] if os_ else ""
        self.influx_url = influx.env()["INFLUXDB_URL"] if influx else ""

    def topic(self, partitions: int = 3) -> str:
        name = f"bench-{uuid.uuid4().hex[:10]}"
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        admin.create_topics([NewTopic(name, num_partitions=partitions)])[name].result(30)
        return name

    def produce(self, topic: str, values: list[bytes]) -> None:
        producer = Producer(
            {"bootstrap.servers": self.bootstrap, "linger.ms": 50, "compression.type": "lz4"}
        )
        for i, value in enumerate(values):
            while True:
                try:
                    producer.produce(topic, key=f"k{i % 3}".encode(), value=value)
                    break
                except BufferError:
                    producer.poll(0.2)
        if producer.flush(120):
            raise BenchError("Kafka did not take the records")


@contextlib.contextmanager
def pipeline(platform: Platform, sink: str, topic: str, *args: str) -> Iterator[str]:
    """`leapfrog pipeline SINK` as its own process; yields its /health URL."""
    port = 9690 if sink == "logs" else 9691
    argv = [
        sys.executable, "-m", "leapfrog", "pipeline", sink,
        "--kafka", platform.bootstrap,
        "--url", platform.os_url if sink == "logs" else platform.influx_url,
        "--topic", topic,
        "--group", f"bench-{uuid.uuid4().hex[:8]}",
        "--listen", f"{PIPELINE}:{port}",
        *args,
    ]  # fmt: skip
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield f"http://{PIPELINE}:{port}/health"
        finally:
            with no_interrupt():
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                if proc.returncode not in (0, -signal.SIGTERM):
                    out.seek(0)
                    log(out.read().decode(errors="replace")[-2000:])


def drain_rate(health_url: str, total: int, limit: float = 600.0) -> float:
    """Items/s from the first acknowledged batch to the last, read from /health."""
    deadline = time.monotonic() + limit
    first: tuple[float, int] | None = None
    while time.monotonic() < deadline:
        try:
            written = int(httpx.get(health_url, timeout=2).json()["written"])
        except (httpx.HTTPError, ValueError, KeyError):
            written = 0
        now = time.perf_counter()
        if written and first is None:
            first = (now, written)
        if written >= total and first is not None:
            log(
                f"    pipeline's time by step: {httpx.get(health_url, timeout=2).json()['seconds']}"
            )
            if written == first[1]:
                raise BenchError("everything came in one batch: use more items")
            return (written - first[1]) / (now - first[0])
        time.sleep(0.05)
    raise BenchError(f"the pipeline did not write {total} items within {limit:g}s")


# -- logs --------------------------------------------------------------------------


def log_events(count: int, run: str) -> list[bytes]:
    now = time.time()
    return [
        json.dumps(
            {
                "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{i % 1000000:06d}Z",
                "level": "info",
                "message": f"request /orders/{i} served in {i % 97} ms",
                "logger": "app.http",
                "service": "hello",
                "instance": f"hello-{i % 2 + 1}",
                "host": "box",
                "method": "GET",
                "status": 200,
                "duration_ms": i % 97,
                "seq": i,
            },
            separators=(",", ":"),
        ).encode()
        for i in range(count)
    ]


def os_count(platform: Platform, prefix: str) -> int:
    httpx.post(f"{platform.os_url}/{prefix}-*/_refresh", timeout=60)
    return int(httpx.get(f"{platform.os_url}/{prefix}-*/_count", timeout=60).json()["count"])


def logs_pipeline_round(platform: Platform, topic: str, total: int) -> float:
    prefix = f"bp{uuid.uuid4().hex[:8]}"
    with pipeline(platform, "logs", topic, "--prefix", prefix, "--retention-days", "0") as url:
        rate = drain_rate(url, total)
    if (found := os_count(platform, prefix)) != total:
        raise BenchError(f"pipeline round: {found} documents, not {total}")
    return rate


def logs_bulk_round(platform: Platform, events: list[bytes], batch: int) -> float:
    prefix = f"bb{uuid.uuid4().hex[:8]}"
    sink = OpenSearchSink(platform.os_url, prefix=prefix)
    sink.prepare()  # the same index template
    docs = [sink.decode(value, None).items[0] for value in events]
    sink.close()
    bodies = []
    for start in range(0, len(docs), batch):
        lines = []
        for doc in docs[start : start + batch]:
            lines.append(json.dumps({"index": {"_index": doc.index, "_id": doc.id}}).encode())
            lines.append(doc.source)
        bodies.append(b"\n".join(lines) + b"\n")
    headers = {"Content-Type": "application/x-ndjson"}
    with httpx.Client(timeout=120) as client:
        first = None
        for body in bodies:
            answer = client.post(f"{platform.os_url}/_bulk", content=body, headers=headers)
            if answer.status_code != 200 or answer.json().get("errors"):
                raise BenchError(f"bulk loader: {answer.text[:300]}")
            first = first or (time.perf_counter(), batch)
        took = time.perf_counter() - first[0]
    if (found := os_count(platform, prefix)) != len(events):
        raise BenchError(f"bulk round: {found} documents, not {len(events)}")
    return (len(events) - first[1]) / took


def bench_logs(platform: Platform, events: int, rounds: int) -> dict[str, Any]:
    values = log_events(events, uuid.uuid4().hex[:8])
    topic = platform.topic()
    log(f"logs: {events} events into Kafka ...")
    platform.produce(topic, values)
    return compare(
        lambda: logs_bulk_round(platform, values, 2000),
        lambda: logs_pipeline_round(platform, topic, events),
        rounds,
        ("events", events, "bulk_loader"),
    )


def compare(
    baseline: Callable[[], float],
    piped: Callable[[], float],
    rounds: int,
    what: tuple[str, int, str],
) -> dict[str, Any]:
    """One untimed baseline round (the store's JIT, caches), then rounds alternating
    baseline and pipeline; the medians and their ratio."""
    unit, count, base_name = what
    log("  warm-up, not counted ...")
    baseline()
    base, pipe = [], []
    for r in range(rounds):
        base.append(baseline())
        log(f"  round {r + 1}: {base_name:<11} {base[-1]:,.0f} {unit}/s")
        pipe.append(piped())
        log(f"  round {r + 1}: pipeline    {pipe[-1]:,.0f} {unit}/s")
    ratio = statistics.median(pipe) / statistics.median(base)
    return {
        unit: count,
        f"{base_name}_{unit}_per_s": statistics.median(base),
        f"pipeline_{unit}_per_s": statistics.median(pipe),
        "ratio": ratio,
        "target": TARGET_RATIO,
        "met": ratio >= TARGET_RATIO,
    }


# -- latency -------------------------------------------------------------------------


def bench_latency(platform: Platform, rate: int, seconds: float) -> dict[str, Any]:
    topic = platform.topic()
    prefix = f"bl{uuid.uuid4().hex[:8]}"
    total = int(rate * seconds)
    sent: dict[int, float] = {}
    seen: dict[int, float] = {}
    settings = ShipperSettings.from_env(
        service="bench",
        instance="bench-1",
        environ={"KAFKA_BOOTSTRAP_SERVERS": platform.bootstrap},
        log_topic=topic,
    )
    shipper = LogShipper(settings)
    shipper.start()
    logger = logging.getLogger("bench.latency")
    logger.handlers[:] = [KafkaLogHandler(shipper)]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    stop = threading.Event()

    def search() -> None:
        url = f"{platform.os_url}/{prefix}-*/_search"
        with httpx.Client(timeout=10) as client:
            while not stop.is_set() and len(seen) < total:
                low = min((n for n in range(total) if n not in seen), default=total)
                body = {
                    "size": 10000,
                    "_source": ["probe"],
                    "query": {"range": {"probe": {"gte": low}}},
                }
                with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                    hits = client.post(url, json=body).json()["hits"]["hits"]
                    now = time.time()
                    for hit in hits:
                        seen.setdefault(int(hit["_source"]["probe"]), now)
                stop.wait(0.1)

    with pipeline(platform, "logs", topic, "--prefix", prefix, "--retention-days", "0") as url:
        wait_ready(url)
        # One untimed event end to end first: the consumer group has joined and the
        # day's index exists, so the timed events measure the steady path.
        logger.info("warm-up", extra={"probe": -1})
        wait_searchable(platform, prefix)
        searcher = threading.Thread(target=search, daemon=True)
        searcher.start()
        log(f"latency: {total} events at {rate}/s ...")
        started_at = time.perf_counter()
        for n in range(total):
            due = started_at + n / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sent[n] = time.time()
            logger.info("probe %d", n, extra={"probe": n})
        searcher.join(60)
        stop.set()
    shipper.close(10)
    if len(seen) < total:
        raise BenchError(f"only {len(seen)} of {total} events became searchable")
    latencies = sorted(seen[n] - sent[n] for n in range(total))
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[int(len(latencies) * 0.99)]
    return {
        "rate": rate,
        "events": total,
        "p50_s": p50,
        "p99_s": p99,
        "max_s": latencies[-1],
        "target_p99_s": TARGET_P99,
        "met": p99 <= TARGET_P99,
    }


def wait_searchable(platform: Platform, prefix: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            answer = httpx.get(f"{platform.os_url}/{prefix}-*/_count", timeout=5).json()
            if answer["count"] > 0:
                return
        time.sleep(0.2)
    raise BenchError("the warm-up event did not become searchable")


def wait_ready(health_url: str) -> None:
    """Until the pipeline answers and its store is up (template in place)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            if httpx.get(health_url, timeout=2).json()["sink_up"]:
                return
        time.sleep(0.2)
    raise BenchError("the pipeline did not get ready")


# -- metrics -------------------------------------------------------------------------


def metric_records(points: int, per_record: int) -> list[bytes]:
    base = time.time_ns()
    records = []
    for first in range(0, points, per_record):
        records.append(
            "\n".join(
                f"http_requests_total,host=box,instance=hello-{i % 2 + 1},method=GET,"
                f"route=/orders,service=hello,status=200 value={i}.0 {base + i}"
                for i in range(first, min(points, first + per_record))
            ).encode()
        )
    return records


def influx(platform: Platform, database: str, query: str) -> Any:
    return httpx.post(
        f"{platform.influx_url}/query", data={"db": database, "q": query}, timeout=60
    ).json()


def influx_count(platform: Platform, database: str) -> int:
    answer = influx(platform, database, "SELECT count(value) FROM http_requests_total")
    series = answer["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def metrics_pipeline_round(platform: Platform, topic: str, total: int) -> float:
    database = f"bp{uuid.uuid4().hex[:8]}"
    with pipeline(platform, "metrics", topic, "--database", database, "--batch-size", "100") as url:
        rate = drain_rate(url, total)
    if (found := influx_count(platform, database)) != total:
        raise BenchError(f"pipeline round: {found} points, not {total}")
    return rate


def metrics_direct_round(platform: Platform, records: list[bytes], chunk: int) -> float:
    database = f"bd{uuid.uuid4().hex[:8]}"
    influx(platform, database, f'CREATE DATABASE "{database}"')
    lines = [line for record in records for line in record.split(b"\n")]
    bodies = [b"\n".join(lines[s : s + chunk]) for s in range(0, len(lines), chunk)]
    params = {"db": database, "precision": "ns"}
    with httpx.Client(timeout=120) as client:
        first = None
        for body in bodies:
            answer = client.post(f"{platform.influx_url}/write", params=params, content=body)
            if answer.status_code != 204:
                raise BenchError(f"direct writes: {answer.text[:300]}")
            first = first or (time.perf_counter(), chunk)
        took = time.perf_counter() - first[0]
    if (found := influx_count(platform, database)) != len(lines):
        raise BenchError(f"direct round: {found} points, not {len(lines)}")
    return (len(lines) - first[1]) / took


def bench_metrics(platform: Platform, points: int, rounds: int) -> dict[str, Any]:
    records = metric_records(points, 100)
    topic = platform.topic()
    log(f"metrics: {points} points into Kafka ...")
    platform.produce(topic, records)
    return compare(
        lambda: metrics_direct_round(platform, records, 5000),
        lambda: metrics_pipeline_round(platform, topic, points),
        rounds,
        ("points", points, "direct"),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--points", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=int, default=1000, help="latency: events per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="latency: how long")
    parser.add_argument("--only", default="logs,latency,metrics")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    results: dict[str, Any] = {}
    try:
        with contextlib.ExitStack() as stack:
            kafka = stack.enter_context(started("kafka", KAFKA))
            os_ = (
                stack.enter_context(started("opensearch", OPENSEARCH))
                if parts & {"logs", "latency"}
                else None
            )
            influxdb = (
                stack.enter_context(started("influxdb", INFLUXDB)) if "metrics" in parts else None
            )
            platform = Platform(kafka, os_, influxdb)
            steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
                ("logs", lambda: bench_logs(platform, args.events, args.rounds)),
                ("latency", lambda: bench_latency(platform, args.rate, args.seconds)),
                ("metrics", lambda: bench_metrics(platform, args.points, args.rounds)),
            ]
            for name, step in steps:
                if name in parts:
                    results[name] = step()
    except BenchError as exc:
        log(f"failed: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, result in results.items():
            print(f"{name}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in result.items()))
    return 0


def _fmt(value: Any) -> str:
    return f"{value:,.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    sys.exit(main())
