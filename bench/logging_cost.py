"""Benchmark: the cost of one `logger.info` call shipped to Kafka, against a log file.

Two loggers log the same messages (`"request %s served in %d ms"` with two arguments and
`extra={"seq": n}`), the same count, in the same run:

* file: the stdlib `FileHandler` with a plain `Formatter` (time, level, logger, message)
  into a file in a temp dir: the baseline;
* kafka: `KafkaLogHandler` (a `JsonFormatter` event per record) feeding a `LogShipper`
  whose worker thread produces to a real Kafka broker (started by this script with the
  Kafka component, on 127.88.0.1), lz4, idempotent, acks=all.

For each: ns per call (the loop of `logger.info` calls alone) and, for kafka, ns per event
until the broker confirmed the last one (the worker's encoding and producing included;
it shares the interpreter with the loop). The target is kafka / file <= 2x per call.
The buffer holds every event of a round, so nothing is dropped; the script checks that.

Run as `.venv/bin/python bench/logging_cost.py [--messages 100000] [--rounds 3] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _shared import BenchError
from _telemetry import kafka_broker
from leapfrog.telemetry import KafkaLogHandler, LogShipper, ShipperSettings

ADDRESS = "127.88.0.1"
TARGET = 2.0


def logger_with(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(f"bench.{name}")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def log_loop(logger: logging.Logger, count: int) -> float:
    """Seconds for `count` calls."""
    info = logger.info
    started = time.perf_counter()
    for n in range(count):
        info("request %s served in %d ms", "/orders", n % 97, extra={"seq": n})
    return time.perf_counter() - started


def file_round(count: int, directory: Path) -> dict[str, float]:
    handler = logging.FileHandler(directory / "app.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logger_with(handler, "file")
    seconds = log_loop(logger, count)
    handler.close()
    return {"call_ns": seconds / count * 1e9}


def kafka_round(count: int, bootstrap: str, tag: str) -> dict[str, float]:
    settings = ShipperSettings(
        service="bench",
        instance=f"bench-{tag}",
        bootstrap_servers=bootstrap,
        buffer_size=count,
    )
    shipper = LogShipper(settings)
    shipper.start()
    logger = logger_with(KafkaLogHandler(shipper), "kafka")
    try:
        started = time.perf_counter()
        seconds = log_loop(logger, count)
        deadline = time.monotonic() + 120
        while shipper.counters["sent"] < count and time.monotonic() < deadline:
            time.sleep(0.001)
        total = time.perf_counter() - started
    finally:
        shipper.close(timeout=30)
    counters = shipper.counters
    if counters["sent"] != count:
        raise BenchError(f"kafka round delivered {counters['sent']} of {count}: {counters}")
    return {"call_ns": seconds / count * 1e9, "delivered_ns": total / count * 1e9}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not 1_000 <= args.messages <= 1_000_000 or not 1 <= args.rounds <= 10:
        parser.error("--messages must be 1000..1000000 and --rounds 1..10")
    samples: dict[str, list[dict[str, float]]] = {"file": [], "kafka": []}
    try:
        with (
            kafka_broker(ADDRESS, {"logs": {"partitions": 1}}) as kafka,
            tempfile.TemporaryDirectory() as tmp,
        ):
            bootstrap = kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
            kafka_round(min(args.messages, 10_000), bootstrap, "warmup")
            file_round(min(args.messages, 10_000), Path(tmp))
            for n in range(args.rounds):
                # The side that goes first alternates, so neither always meets a cold cache.
                order = ("file", "kafka") if n % 2 == 0 else ("kafka", "file")
                for side in order:
                    if side == "file":
                        samples["file"].append(file_round(args.messages, Path(tmp)))
                    else:
                        samples["kafka"].append(kafka_round(args.messages, bootstrap, str(n)))
    except BenchError as exc:
        print(f"logging_cost: {exc}", file=sys.stderr)
        return 1
    summary = summarize(samples, args.messages)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        report(summary)
    return 0


def summarize(samples: dict[str, list[dict[str, float]]], count: int) -> dict[str, Any]:
    file_ns = statistics.median(s["call_ns"] for s in samples["file"])
    kafka_ns = statistics.median(s["call_ns"] for s in samples["kafka"])
    delivered_ns = statistics.median(s["delivered_ns"] for s in samples["kafka"])
    return {
        "messages": count,
        "samples": samples,
        "file_call_ns": file_ns,
        "kafka_call_ns": kafka_ns,
        "kafka_delivered_ns": delivered_ns,
        "ratio_call": kafka_ns / file_ns,
        "ratio_delivered": delivered_ns / file_ns,
        "target": TARGET,
        "met": kafka_ns / file_ns <= TARGET,
    }


def report(s: dict[str, Any]) -> None:
    print(f"logger.info cost, {s['messages']} messages per round, medians of each side")
    for side in ("file", "kafka"):
        calls = ", ".join(f"{x['call_ns']:.0f}" for x in s["samples"][side])
        print(f"  {side:<6} ns/call: {calls}")
    delivered = ", ".join(f"{x['delivered_ns']:.0f}" for x in s["samples"]["kafka"])
    print(f"  kafka  ns/event until delivered: {delivered}")
    print(f"  FileHandler                 {s['file_call_ns']:8.0f} ns/call")
    print(f"  KafkaLogHandler             {s['kafka_call_ns']:8.0f} ns/call")
    print(f"  KafkaLogHandler, delivered  {s['kafka_delivered_ns']:8.0f} ns/event")
    verdict = "met" if s["met"] else "MISSED"
    print(f"  ratio per call kafka/file: {s['ratio_call']:.2f}x (target <= {TARGET:g}x: {verdict})")
    print(f"  ratio until delivered / file call: {s['ratio_delivered']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
