"""The shipper against a real Kafka broker: fields, a 30 s outage, spool replay, metrics."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from prometheus_client import CollectorRegistry, Counter

from leapfrog.telemetry import (
    KafkaLogHandler,
    LogShipper,
    MetricsPublisher,
    ShipperSettings,
    register_metrics,
)
from leapfrog.testing import RunningComponent
from tests.unit.telemetry.lineparse import parse

ADDRESS = "127.0.0.31"

pytestmark = pytest.mark.integration


def bootstrap(kafka: RunningComponent) -> str:
    return kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]


def settings(kafka: RunningComponent | None, tmp_path: Path, **changes: object) -> ShipperSettings:
    instance = f"hello-{uuid.uuid4().hex[:8]}"
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap(kafka) if kafka else f"{ADDRESS}:1"}
    return ShipperSettings.from_env(
        service="hello", instance=instance, spool_dir=tmp_path / "spool", environ=env, **changes
    )


def consume(kafka: RunningComponent, topic: str, key: str, count: int, limit: float = 60) -> list:
    """Every record of `topic` with `key`, from the start, until `count` arrived and no
    more came for 2 s (so duplicates would show), or `limit` seconds passed."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap(kafka),
            "group.id": f"test-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])  # 0: from the start
    found: list = []
    deadline = time.monotonic() + limit
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                if len(found) >= count and time.monotonic() - quiet_since > 2:
                    break
                continue
            quiet_since = time.monotonic()
            if message.key() == key.encode():
                found.append(message.value())
    finally:
        consumer.close()
    return found


def attach(shipper: LogShipper, name: str) -> tuple[logging.Logger, KafkaLogHandler]:
    logger = logging.getLogger(f"test.telemetry.{name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = KafkaLogHandler(shipper)
    logger.addHandler(handler)
    return logger, handler


@pytest.mark.timeout(120)
def test_events_arrive_with_their_fields(kafka: RunningComponent, tmp_path: Path) -> None:
    shipper = LogShipper(settings(kafka, tmp_path))
    shipper.start()
    logger, handler = attach(shipper, "fields")
    try:
        for seq in range(5):
            logger.info("order %d placed", seq, extra={"seq": seq, "amount": 1.5})
        try:
            raise RuntimeError("card declined")
        except RuntimeError:
            logger.exception("payment failed", extra={"seq": 5})
    finally:
        logger.removeHandler(handler)
        shipper.close(timeout=15)
    assert shipper.counters["sent"] == 6
    events = [json.loads(v) for v in consume(kafka, "logs", shipper.settings.instance, 6)]
    assert [e["seq"] for e in events] == list(range(6))
    first = events[0]
    assert first["message"] == "order 0 placed"
    assert first["level"] == "info"
    assert first["logger"] == "test.telemetry.fields"
    assert first["service"] == "hello"
    assert first["instance"] == shipper.settings.instance
    assert first["host"] == shipper.settings.host
    assert first["amount"] == 1.5
    assert first["ts"].endswith("Z")
    assert events[5]["level"] == "error"
    assert "RuntimeError: card declined" in events[5]["exception"]


@pytest.mark.timeout(240)
def test_a_30s_outage_loses_nothing_and_duplicates_nothing(
    kafka: RunningComponent, tmp_path: Path
) -> None:
    shipper = LogShipper(settings(kafka, tmp_path))
    registry = CollectorRegistry()
    register_metrics(shipper, registry)
    shipper.start()
    logger, handler = attach(shipper, "outage")
    stop = threading.Event()
    sent = [0]

    def log_steadily() -> None:  # 20 events/s, each with its sequence number
        while not stop.wait(0.05):
            logger.info("tick", extra={"seq": sent[0]})
            sent[0] += 1

    writer = threading.Thread(target=log_steadily)
    writer.start()
    try:
        time.sleep(3)
        assert kafka.stop() is not None
        time.sleep(30)
        assert not shipper.kafka_reachable
        assert shipper.counters["spooled"] > 0
        kafka.start()
        time.sleep(5)
    finally:
        stop.set()
        writer.join()
        logger.removeHandler(handler)
    deadline = time.monotonic() + 60
    while shipper.counters["sent"] < sent[0] and time.monotonic() < deadline:
        time.sleep(0.2)
    shipper.close(timeout=15)
    counters = shipper.counters
    assert counters["dropped"] == 0
    assert counters["sent"] == sent[0], counters
    values = consume(kafka, "logs", shipper.settings.instance, sent[0])
    assert [json.loads(v)["seq"] for v in values] == list(range(sent[0]))
    assert sent[0] > 700  # logging went on for the whole outage
    assert not list((tmp_path / "spool").glob("*.seg"))


@pytest.mark.timeout(120)
def test_a_restarted_shipper_replays_its_spool(kafka: RunningComponent, tmp_path: Path) -> None:
    unreachable = settings(None, tmp_path)
    first = LogShipper(unreachable)
    first.start()
    for seq in range(50):
        first.ship({"message": "queued", "seq": seq})
    first.close(timeout=3)
    assert first.counters["spooled"] == 50
    assert list((tmp_path / "spool").glob("*.seg"))

    again = unreachable.with_options(bootstrap_servers=bootstrap(kafka))
    second = LogShipper(again)
    second.start()
    for seq in range(50, 60):
        second.ship({"message": "after restart", "seq": seq})
    deadline = time.monotonic() + 30
    while second.counters["sent"] < 60 and time.monotonic() < deadline:
        time.sleep(0.1)
    second.close(timeout=15)
    values = consume(kafka, "logs", again.instance, 60)
    assert [json.loads(v)["seq"] for v in values] == list(range(60))


@pytest.mark.timeout(120)
def test_metrics_arrive_as_line_protocol(kafka: RunningComponent, tmp_path: Path) -> None:
    shipper = LogShipper(settings(kafka, tmp_path))
    registry = CollectorRegistry()
    Counter("orders", "Orders placed", ["kind"], registry=registry).labels("a b").inc(4)
    publisher = MetricsPublisher(shipper, registry, interval=0.2, measurement_prefix="hello_")
    shipper.start()
    publisher.start()
    time.sleep(1)
    publisher.close()
    shipper.close(timeout=15)
    snapshots = consume(kafka, "metrics", shipper.settings.instance, 2)
    assert len(snapshots) >= 2
    lines = [parse(text) for text in snapshots[-1].decode().splitlines()]
    ((measurement, tags, fields, ts),) = lines
    assert measurement == "hello_orders_total"
    assert tags == {
        "kind": "a b",
        "service": "hello",
        "instance": shipper.settings.instance,
        "host": shipper.settings.host,
    }
    assert fields == {"value": 4.0}
    assert abs(ts - time.time_ns()) < 120 * 10**9
