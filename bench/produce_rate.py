"""Benchmark: records/s produced by LogShipper against Kafka's own kafka-producer-perf-test.

On one real broker (the Kafka component, started by this script on 127.88.0.2), the same
count of records of the same size (default 200,000 x 200 bytes of random letters, the
perf test's own payload kind), with the same producer settings: acks=all, idempotence,
the same compression (lz4 by default), linger.ms (20) and batch.size (1,000,000 bytes,
librdkafka's default):

* perf-test: `org.apache.kafka.tools.ProducerPerformance --throughput -1`, run from the
  component's own jars and JVM; its own records/s figure (it starts its clock at the first
  send, so the JVM's start-up is not counted);
* shipper: `LogShipper.ship_to` of the same records, from the first call until the
  broker confirmed the last one (buffer large enough to hold them all: nothing dropped);
* shipper, JSON events: the same count of `ship(dict)` log events (about the same size),
  so the encoding of events is counted too.

Each side runs on its own new topic. The target is shipper / perf-test >= 0.5.
`--compression lz4 zstd` measures both codecs (the default setting is the first).

Run as `.venv/bin/python bench/produce_rate.py [--records 200000] [--rounds 2] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import string
import subprocess
import sys
import time
import uuid
from typing import Any

from _shared import BenchError, tail
from _telemetry import kafka_broker
from leapfrog.telemetry import LogShipper, ShipperSettings
from leapfrog.testing import RunningComponent

ADDRESS = "127.88.0.2"
TARGET = 0.5
LINGER_MS = 20
RATE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec")


def perf_test(kafka: RunningComponent, records: int, size: int, compression: str) -> float:
    java, argfile = kafka.installation.extra["java"], kafka.installation.extra["argfile"]
    props = {
        "bootstrap.servers": kafka.env()["KAFKA_BOOTSTRAP_SERVERS"],
        "acks": "all",
        "enable.idempotence": "true",
        "compression.type": compression,
        "linger.ms": str(LINGER_MS),
        # librdkafka's default batch size (Java's is 16 KiB): the same batching on both sides.
        "batch.size": "1000000",
    }
    argv = [
        java,
        f"@{argfile}",
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        f"perf-{uuid.uuid4().hex[:8]}",
        "--num-records",
        str(records),
        "--record-size",
        str(size),
        "--throughput",
        "-1",
        "--producer-props",
        *(f"{k}={v}" for k, v in props.items()),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    found = RATE.findall(result.stdout)
    if result.returncode != 0 or not found or int(found[-1][0]) != records:
        raise BenchError(
            f"perf test failed ({result.returncode}):\n{tail(result.stdout + result.stderr)}"
        )
    return float(found[-1][1])


def shipper_rate(kafka: RunningComponent, payloads: list[Any], compression: str) -> float:
    settings = ShipperSettings(
        service="bench",
        instance=f"bench-{uuid.uuid4().hex[:6]}",
        bootstrap_servers=kafka.env()["KAFKA_BOOTSTRAP_SERVERS"],
        log_topic=f"ship-{uuid.uuid4().hex[:8]}",
        buffer_size=len(payloads),
        compression=compression,
        linger_ms=LINGER_MS,
    )
    shipper = LogShipper(settings)
    shipper.start()
    _wait_for_topic(shipper, settings.log_topic)
    topic = settings.log_topic
    want = shipper.counters["sent"] + len(payloads)
    try:
        started = time.perf_counter()
        for payload in payloads:
            if isinstance(payload, bytes):
                shipper.ship_to(topic, None, payload)
            else:
                shipper.ship(payload)
        deadline = time.monotonic() + 300
        while shipper.counters["sent"] < want and time.monotonic() < deadline:
            time.sleep(0.002)
        seconds = time.perf_counter() - started
    finally:
        shipper.close(timeout=30)
    if shipper.counters["sent"] != want:
        raise BenchError(f"shipper: {shipper.counters}, wanted {want} sent")
    return len(payloads) / seconds


def _wait_for_topic(shipper: LogShipper, topic: str) -> None:
    """One record first, so the topic's creation is outside the timed part (as the perf
    test's first send creates its topic before the bulk of its records)."""
    shipper.ship_to(topic, None, b"warm-up")
    deadline = time.monotonic() + 30
    while shipper.counters["sent"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compression", nargs="+", default=["lz4"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not 1_000 <= args.records <= 2_000_000 or not 1 <= args.rounds <= 5:
        parser.error("--records must be 1000..2000000 and --rounds 1..5")
    rng = random.Random(7)
    raw = [
        "".join(rng.choices(string.ascii_uppercase, k=args.size)).encode()
        for _ in range(args.records)
    ]
    events = [
        {
            "ts": "2026-11-25T17:06:42.123456Z",
            "level": "info",
            "message": text[:120].decode(),
            "seq": n,
        }
        for n, text in enumerate(raw)
    ]
    results: dict[str, dict[str, list[float]]] = {}
    try:
        with kafka_broker(ADDRESS, {}) as kafka:
            perf_test(kafka, 10_000, args.size, args.compression[0])  # warm-up, untimed
            shipper_rate(kafka, raw[:10_000], args.compression[0])
            for codec in args.compression:
                rows = results.setdefault(
                    codec, {"perf-test": [], "shipper": [], "shipper, JSON events": []}
                )
                for _ in range(args.rounds):
                    rows["perf-test"].append(perf_test(kafka, args.records, args.size, codec))
                    rows["shipper"].append(shipper_rate(kafka, raw, codec))
                    rows["shipper, JSON events"].append(shipper_rate(kafka, events, codec))
    except BenchError as exc:
        print(f"produce_rate: {exc}", file=sys.stderr)
        return 1
    summary = {
        "records": args.records,
        "size": args.size,
        "results": results,
        "ratios": {
            codec: {
                side: statistics.median(rows[side]) / statistics.median(rows["perf-test"])
                for side in ("shipper", "shipper, JSON events")
            }
            for codec, rows in results.items()
        },
        "target": TARGET,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"{args.records} records of {args.size} bytes, acks=all, idempotent, linger.ms={LINGER_MS}"
    )
    for codec, rows in results.items():
        print(f"  compression {codec}")
        base = statistics.median(rows["perf-test"])
        for side, rates in rows.items():
            median = statistics.median(rates)
            each = ", ".join(f"{r:,.0f}" for r in rates)
            print(f"    {side:<22} {median:>10,.0f} records/s  ({each})  {median / base:.2f}x")
    for codec, ratios in summary["ratios"].items():
        verdict = "met" if ratios["shipper"] >= TARGET else "MISSED"
        ratio = ratios["shipper"]
        print(f"  {codec}: shipper / perf-test {ratio:.2f}x (target >= {TARGET}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
