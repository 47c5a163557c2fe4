"""The Kafka driver against a real broker of its own: records (key, value, headers,
timestamp), topic configs and a consumer group's offsets survive a wiped broker, and
the group resumes exactly after the last record it had processed; verify restores into
a scratch broker (and names a corrupt object); a broker that is down fails the run.
One test, as each step needs the previous one's broker state (starts are slow)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.cimpl import NewTopic

from leapfrog.components._kafka_admin import admin_client
from leapfrog.components.kafka import LOG_DIR
from leapfrog.testing import RunningComponent, free_port

from .conftest import make_engine, own_component

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

ADDRESS = "127.0.0.59"
TOPIC = "bk-orders"
PLAIN = ".bk-plain"  # a leading dot is legal in a topic name, not in an object name
GROUP = "bk-billing"
TOTAL = 300
DELETED = 10
KEPT = TOTAL - 3 * DELETED
PROCESSED = 120


@pytest.fixture(scope="module")
def kafka() -> Iterator[RunningComponent]:
    """A broker of its own on free ports: these tests wipe it, and another test session
    (another worktree) may run the shared `kafka` fixture's fixed address meanwhile."""
    options = {"port": free_port(ADDRESS), "controller_port": free_port(ADDRESS)}
    with own_component("kafka", options, ADDRESS) as running:
        yield running


def bootstrap(kafka: RunningComponent) -> str:
    return kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]


def group_consumer(kafka: RunningComponent) -> Any:
    return Consumer(
        {
            "bootstrap.servers": bootstrap(kafka),
            "group.id": GROUP,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )


def consume(consumer: Any, count: int) -> list[bytes]:
    """Up to `count` values, one poll at a time: at most 60 s for the first (the group
    joins), then until 5 s pass without one."""
    values: list[bytes] = []
    idle = 0
    while len(values) < count and idle < (5 if values else 60):
        message = consumer.poll(1.0)
        if message is None:
            idle += 1
            continue
        idle = 0
        assert message.error() is None, message.error()
        values.append(message.value())
    return values


def records(kafka: RunningComponent, topic: str, partitions: int) -> dict[int, list[Any]]:
    """Every record of a topic by partition: key, value, headers, timestamp."""
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap(kafka),
            "group.id": "bk-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    found: dict[int, list[Any]] = {}
    for p in range(partitions):
        low, high = reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        reader.assign([TopicPartition(topic, p, low)])
        rows: list[Any] = []
        while len(rows) < high - low:
            message = reader.poll(10.0)
            assert message is not None
            if message.error() is None:
                rows.append(
                    (message.key(), message.value(), message.headers(), message.timestamp()[1])
                )
        found[p] = rows
    reader.close()
    return found


def retention_ms(kafka: RunningComponent) -> str:
    admin = admin_client(bootstrap(kafka), 10)
    resource = ConfigResource(ConfigResource.Type.TOPIC, TOPIC)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    return str(configs["retention.ms"].value)


def test_round_trip_group_resumes_after_its_last_record(kafka: RunningComponent) -> None:
    admin = admin_client(bootstrap(kafka), 10)
    created = admin.create_topics(
        [
            NewTopic(TOPIC, 3, 1, config={"retention.ms": "604800000"}),
            NewTopic(PLAIN, 1, 1),
        ]
    )
    for future in created.values():
        future.result(timeout=30)
    producer = Producer(
        {"bootstrap.servers": bootstrap(kafka), "enable.idempotence": True, "log_level": 0}
    )
    base = 1_700_000_000_000
    for i in range(TOTAL):
        producer.produce(
            TOPIC,
            key=None if i % 10 == 0 else f"customer-{i % 17}".encode(),
            value=None if i % 50 == 49 else f"order-{i}".encode(),
            headers=[("trace", f"t{i}".encode()), ("trace", None), ("src", b"\x00\xff")],
            timestamp=base + i * 1000,
            partition=i % 3,
        )
    for i in range(10):
        producer.produce(PLAIN, value=f"plain-{i}".encode())
    assert producer.flush(30) == 0
    # Retention removed each partition's first records: a committed offset is not its
    # position among the backed-up records, which a restore must map.
    deleted = [TopicPartition(TOPIC, p, DELETED) for p in range(3)]
    for future in admin.delete_records(deleted).values():
        future.result(timeout=30)

    consumer = group_consumer(kafka)
    consumer.subscribe([TOPIC])
    processed = consume(consumer, PROCESSED)
    assert len(processed) == PROCESSED
    consumer.commit(asynchronous=False)
    consumer.close()
    before = records(kafka, TOPIC, 3)
    plain = records(kafka, PLAIN, 1)
    assert len(plain[0]) == 10

    engine = make_engine(kafka)
    record = engine.run_backup()
    assert record.state == "succeeded", record.reason
    manifest = engine.find(record.backup)
    partitions = manifest.facts["partitions"]
    assert sum(partitions[f"{TOPIC}~{p}"]["records"] for p in range(3)) == KEPT
    assert sum(manifest.facts["groups"][GROUP].values()) == PROCESSED
    assert all(partitions[f"{TOPIC}~{p}"]["low"] == DELETED for p in range(3))

    verified = engine.verify(record.backup)
    assert verified.state == "succeeded", verified.reason
    assert "scratch broker" in verified.reason

    # A broker that is down: the run fails saying so, and lists no backup.
    kafka.stop()
    down = engine.run_backup()
    assert down.state == "failed"
    assert "is not answering" in down.reason
    assert [m.id for m in engine.backups()] == [manifest.id]

    # An empty cluster: the broker restarts on freshly formatted storage.
    shutil.rmtree(kafka.where.data_dir / LOG_DIR)
    kafka.start()
    assert TOPIC not in admin_client(bootstrap(kafka), 10).list_topics(timeout=10).topics
    restored = engine.restore(manifest, None)
    assert restored.state == "succeeded", restored.reason
    assert records(kafka, TOPIC, 3) == before
    assert records(kafka, PLAIN, 1) == plain
    assert retention_ms(kafka) == "604800000"

    consumer = group_consumer(kafka)
    consumer.subscribe([TOPIC])
    rest = consume(consumer, TOTAL)  # everything the group gets, until idle
    consumer.close()
    # Exactly the records it had not processed: none again, none skipped.
    assert len(rest) == KEPT - PROCESSED
    everything = sorted(v or b"" for rows in before.values() for _k, v, _h, _t in rows)
    assert sorted(v or b"" for v in processed + rest) == everything

    name = next(o.name for o in manifest.objects if o.name.startswith(f"records~{TOPIC}~1"))
    path = engine.storage.local_path(f"kafka/backups/{manifest.id}/{name}")
    assert path is not None
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    failed = engine.verify(manifest.id)
    assert failed.state == "failed"
    assert f"object {name} does not match its sha256" in failed.reason
