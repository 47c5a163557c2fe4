"""Real Kafka (the integration tier's broker, `tests/integration/conftest.py`) and, where a test
asks, the real stores, started once for the package; the pipelines run as components through
their contract, each test on topics of its own."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from leapfrog.testing import RunningComponent, run_component

PIPELINE_ADDRESS = "127.0.0.84"


_MADE: list[Path] = []


def base_dir(prefix: str) -> Path:
    """A data folder for a server of these tests; all are removed when the package ends."""
    path = Path(tempfile.mkdtemp(prefix=f"lf-pipelines-{prefix}-"))
    path.chmod(0o755)
    _MADE.append(path)
    return path


@pytest.fixture(scope="package", autouse=True)
def _remove_base_dirs() -> Iterator[None]:
    yield
    while _MADE:
        shutil.rmtree(_MADE.pop(), ignore_errors=True)


def bootstrap(kafka: RunningComponent) -> str:
    return kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]


def new_topic(kafka: RunningComponent, partitions: int = 3) -> str:
    """A topic of the test's own, so tests share one broker without seeing each other."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap(kafka)})
    admin.create_topics([NewTopic(name, num_partitions=partitions)])[name].result(30)
    return name


def produce(kafka: RunningComponent, topic: str, values: list[bytes]) -> None:
    send(_producer(kafka), topic, values)


def _producer(kafka: RunningComponent) -> Producer:
    return Producer(
        {"bootstrap.servers": bootstrap(kafka), "enable.idempotence": True, "linger.ms": 20}
    )


def send(producer: Producer, topic: str, values: list[bytes]) -> None:
    """`values` produced and acknowledged (all of them, or the test fails)."""
    for i, value in enumerate(values):
        while True:
            try:
                producer.produce(topic, key=f"k{i % 7}".encode(), value=value)
                break
            except BufferError:
                producer.poll(0.5)
        producer.poll(0)
    assert producer.flush(60) == 0


def consume_all(kafka: RunningComponent, topic: str, count: int, limit: float = 90.0) -> list[Any]:
    """Every record of `topic` from its start: `count` of them, then 2 s more to see
    any extra."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap(kafka),
            "group.id": f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got: list[Any] = []
    deadline = time.monotonic() + limit
    quiet_until = None
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(500, 0.5)
            got.extend(m for m in batch if m.error() is None)
            if len(got) >= count:
                quiet_until = quiet_until or time.monotonic() + 2.0
                if time.monotonic() > quiet_until:
                    break
    finally:
        consumer.close()
    return got


def committed(kafka: RunningComponent, group: str, topic: str, partitions: int) -> list[int]:
    from confluent_kafka import TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap(kafka), "group.id": group})
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        return [tp.offset for tp in consumer.committed(parts, timeout=10)]
    finally:
        consumer.close()


def pipeline_health(running: RunningComponent) -> dict[str, Any]:
    url = running.env()[f"LEAPFROG_{running.component.kind.upper().replace('-', '_')}_URL"]
    answer: dict[str, Any] = httpx.get(f"{url}/health", timeout=5).json()
    return answer


def event(seq: int, run: str, **extra: Any) -> bytes:
    return json.dumps(
        {
            "ts": "2026-12-05T10:00:00.000000Z",
            "level": "info",
            "message": f"event {seq} of {run}",
            "logger": "test",
            "service": "loadgen",
            "instance": "loadgen-1",
            "host": "box",
            "id": f"{run}-{seq}",
            "seq": seq,
            **extra,
        }
    ).encode()


OPENSEARCH_ADDRESS = "127.0.0.82"
INFLUXDB_ADDRESS = "127.0.0.83"


@pytest.fixture(scope="package")
def opensearch() -> Iterator[RunningComponent]:
    with run_component("opensearch", {}, base_dir("os"), address=OPENSEARCH_ADDRESS) as running:
        yield running


@pytest.fixture(scope="package")
def influxdb() -> Iterator[RunningComponent]:
    with run_component("influxdb", {}, base_dir("influx"), address=INFLUXDB_ADDRESS) as running:
        yield running


def kill_for(running: RunningComponent, seconds: float, *, meanwhile: Trickle) -> None:
    """SIGKILL the store's whole process group, leave it dead `seconds`, start it again
    from the same data directory (and wait until it is healthy). `meanwhile` must have
    produced events into Kafka while the store was dead: what the outage tests prove is
    that those reach the store once it is back, each once."""
    import os
    import signal

    assert running.popen is not None
    os.killpg(running.popen.pid, signal.SIGKILL)
    running.popen.wait()
    before = meanwhile.produced
    time.sleep(seconds)
    assert meanwhile.produced > before, "no events were produced while the store was dead"
    running.start()


def wait_for(check: Any, limit: float, what: str) -> Any:
    """Poll `check()` until it returns something true; its last value on failure."""
    deadline = time.monotonic() + limit
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(0.5)
        value = check()
    assert value, f"{what}: not within {limit:g}s"
    return value


def headers_of(message: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in (message.headers() or [])}


def settled(pipeline: RunningComponent) -> dict[str, Any] | None:
    """The pipeline's health once its group has no lag left, else None."""
    health = pipeline_health(pipeline)
    return health if health["lag"] == 0 else None


class Trickle(threading.Thread):
    """`values` produced in 40 slices spread over about `seconds`; `produced` counts the
    values Kafka has acknowledged so far."""

    def __init__(
        self, kafka: RunningComponent, topic: str, values: list[bytes], seconds: float
    ) -> None:
        super().__init__(name=f"trickle-{topic}", daemon=True)
        self.kafka, self.topic, self.values, self.seconds = kafka, topic, values, seconds
        self.produced = 0

    def run(self) -> None:
        producer = _producer(self.kafka)  # one: a new one per slice spends ~1 s connecting
        step = max(1, len(self.values) // 40)
        for start in range(0, len(self.values), step):
            chunk = self.values[start : start + step]
            send(producer, self.topic, chunk)
            self.produced += len(chunk)
            time.sleep(self.seconds / 40)
