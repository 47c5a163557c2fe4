"""The baseline of `flink.py`: a plain Python Kafka consumer computing what the
`service-stats` job computes (per service and route and tumbling event-time window:
requests, 5xx, exact p50/p95/p99 by linear interpolation, bytes; a window is written once
the newest event time minus the lateness has passed its end), on the same events, writing
the same JSON rows to a topic."""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from confluent_kafka import Consumer, Producer

__all__ = ["PythonStats", "percentile"]

Key = tuple[int, str, str]
"""window start (epoch s), service, route"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _utc(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


@dataclass
class _Window:
    requests: int = 0
    errors: int = 0
    ms: list[float] = field(default_factory=list)
    size: int = 0


@dataclass
class PythonStats:
    bootstrap: str
    source: str
    sink: str
    window: int
    lateness: int
    rows: dict[Key, dict[str, object]] = field(default_factory=dict)
    late: int = 0

    def run(self, events: int, timeout: float) -> float:
        """Consume `events` records from the start of the topic, writing each window as it
        closes; the seconds until the last closed window is written."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"bench-python-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5})
        started = time.monotonic()
        consumer.subscribe([self.source])
        open_windows: dict[Key, _Window] = {}
        newest: dict[int, float] = {}  # per partition, as Flink's per-split watermarks
        watermark = -math.inf
        seen = 0
        try:
            while seen < events and time.monotonic() - started < timeout:
                for message in consumer.consume(1000, 0.5):
                    if message.error() is not None:
                        continue
                    seen += 1
                    try:
                        event = json.loads(message.value() or b"")
                    except ValueError:
                        continue
                    if event.get("logger") != "lb.access":
                        continue
                    service, path = event.get("backend"), event.get("path")
                    status, ts = event.get("status"), event.get("ts")
                    if service is None or path is None or status is None or ts is None:
                        continue
                    when = datetime.fromisoformat(ts).timestamp()
                    start = int(when // self.window * self.window)
                    if start + self.window <= watermark:
                        self.late += 1
                        continue  # late: its window was written already
                    key = (start, service, path.split("?", 1)[0])
                    entry = open_windows.get(key)
                    if entry is None:
                        entry = open_windows[key] = _Window()
                    entry.requests += 1
                    entry.errors += 500 <= status < 600
                    if event.get("duration_ms") is not None:
                        entry.ms.append(float(event["duration_ms"]))
                    entry.size += event.get("bytes") or 0
                    partition = message.partition() or 0
                    newest[partition] = max(newest.get(partition, -math.inf), when)
                assigned = len(consumer.assignment())
                if assigned and len(newest) >= assigned:
                    watermark = max(watermark, min(newest.values()) - self.lateness)
                    self._close(open_windows, watermark, producer)
            producer.flush(30)
        finally:
            consumer.close()
        return time.monotonic() - started

    def _close(self, windows: dict[Key, _Window], watermark: float, producer: Producer) -> None:
        for key in [k for k in windows if k[0] + self.window <= watermark]:
            entry = windows.pop(key)
            start, service, route = key
            row: dict[str, object] = {
                "service": service,
                "route": route,
                "window_start": _utc(start),
                "window_end": _utc(start + self.window),
                "requests": entry.requests,
                "errors": entry.errors,
                "p50_ms": percentile(entry.ms, 0.5) if entry.ms else None,
                "p95_ms": percentile(entry.ms, 0.95) if entry.ms else None,
                "p99_ms": percentile(entry.ms, 0.99) if entry.ms else None,
                "bytes": entry.size,
            }
            self.rows[key] = row
            producer.produce(self.sink, json.dumps(row).encode())
            producer.poll(0)
