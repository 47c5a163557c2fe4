"""The Kafka driver against a real broker of its own: records (key, value, headers,
timestamp), topic configs and a consumer group's offsets survive a wiped broker, and
the group resumes exactly after the last record it had processed; verify restores into
a scratch broker (and names a corrupt object); a broker that is down fails the run, and
so does a cluster without topics; kill -9 mid-run; chosen topics at backup and restore.
One broker for the module (starts are slow); the test that wipes it comes last."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.cimpl import NewTopic

from leapfrog.backup import Engine
from leapfrog.backup.manifest import Manifest
from leapfrog.components._kafka_admin import admin_client
from leapfrog.components.kafka import LOG_DIR
from leapfrog.shared.errors import LeapfrogError
from leapfrog.testing import RunningComponent, free_port

from .conftest import (
    assert_killed_run_is_failed_and_the_next_succeeds,
    kill_9_mid_run,
    make_engine,
    one_byte_flipped,
    own_component,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

ADDRESS = "127.0.0.59"
TOPIC = "bk-orders"
PLAIN = ".bk-plain"  # a leading dot is legal in a topic name, not in an object name
BULK = "bk-bulk"
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


@dataclass(frozen=True)
class Taken:
    engine: Engine
    manifest: Manifest
    before: dict[int, list[Any]]
    plain: dict[int, list[Any]]
    processed: list[bytes]


@pytest.fixture(scope="module")
def taken(kafka: RunningComponent) -> Taken:
    """Known records in two topics, the first records of each partition deleted, a group
    that processed PROCESSED of them and committed; one backup."""
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
    return Taken(engine, engine.find(record.backup), before, plain, processed)


def test_the_backup_holds_every_record_and_the_group_and_verifies(taken: Taken) -> None:
    manifest = taken.manifest
    partitions = manifest.facts["partitions"]
    assert sum(partitions[f"{TOPIC}~{p}"]["records"] for p in range(3)) == KEPT
    assert sum(manifest.facts["groups"][GROUP].values()) == PROCESSED
    assert all(partitions[f"{TOPIC}~{p}"]["low"] == DELETED for p in range(3))
    assert manifest.chosen == []

    verified = taken.engine.verify(manifest.id)
    assert verified.state == "succeeded", verified.reason
    assert "scratch broker" in verified.reason


def test_a_corrupt_byte_fails_verify_naming_the_object(taken: Taken) -> None:
    engine, manifest = taken.engine, taken.manifest
    name = next(o.name for o in manifest.objects if o.name.startswith(f"records~{TOPIC}~1"))
    with one_byte_flipped(engine, manifest.id, name):
        failed = engine.verify(manifest.id)
    assert failed.state == "failed"
    assert f"object {name} does not match its sha256" in failed.reason


def test_a_broker_that_is_down_fails_with_the_reason(kafka: RunningComponent, taken: Taken) -> None:
    engine = taken.engine
    listed = [m.id for m in engine.backups()]
    kafka.stop()
    try:
        down = engine.run_backup()
    finally:
        kafka.start()
    assert down.state == "failed"
    assert "is not answering" in down.reason
    assert [m.id for m in engine.backups()] == listed
    assert engine.history.records()[-1].state == "failed"


def test_chosen_topics_are_backed_up_and_restored_alone(
    kafka: RunningComponent, taken: Taken
) -> None:
    only_orders = make_engine(kafka, only=("bk-ord*",))
    record = only_orders.run_backup()
    assert record.state == "succeeded", record.reason
    manifest = only_orders.find(record.backup)
    assert manifest.chosen == ["bk-ord*"]
    assert manifest.facts["topics"] == [TOPIC]
    assert not [o for o in manifest.objects if PLAIN in o.name]
    assert GROUP in manifest.facts["groups"]

    unknown = make_engine(kafka, only=("nosuch",)).run_backup()
    assert unknown.state == "failed"
    assert "has no topic nosuch; its topics: .bk-plain, bk-orders" in unknown.reason

    # Restore only PLAIN from the whole backup: TOPIC keeps what was written since.
    producer = Producer({"bootstrap.servers": bootstrap(kafka), "log_level": 0})
    producer.produce(PLAIN, value=b"plain-late")
    producer.produce(TOPIC, value=b"order-late", partition=0)
    assert producer.flush(30) == 0
    only_plain = make_engine(kafka, only=(PLAIN,))
    plan, lines = only_plain.plan_restore(taken.manifest.id, None)
    assert lines[0].startswith(f"deletes and recreates topics {PLAIN} on")
    assert "groups (none)" in lines[1]
    restored = only_plain.restore(plan, None)
    assert restored.state == "succeeded", restored.reason
    assert records(kafka, PLAIN, 1) == taken.plain
    assert records(kafka, TOPIC, 3)[0][-1][1] == b"order-late"
    with pytest.raises(LeapfrogError, match="has no topic nosuch; its topics"):
        make_engine(kafka, only=("nosuch",)).plan_restore(taken.manifest.id, None)


def test_kill_9_mid_run_is_failed_and_the_next_run_succeeds(
    kafka: RunningComponent, taken: Taken
) -> None:
    admin = admin_client(bootstrap(kafka), 10)
    admin.create_topics([NewTopic(BULK, 1, 1)])[BULK].result(timeout=30)
    producer = Producer({"bootstrap.servers": bootstrap(kafka), "log_level": 0})
    for _ in range(6000):  # ~6 MB in one partition: the kill lands while it is written
        producer.produce(BULK, value=os.urandom(1000))
        producer.poll(0)
    assert producer.flush(60) == 0
    engine = make_engine(kafka)
    killed = kill_9_mid_run(kafka, engine, stop_after=3 << 20)
    assert_killed_run_is_failed_and_the_next_succeeds(engine, killed)
    admin.delete_topics([BULK])[BULK].result(timeout=30)


def test_round_trip_through_an_empty_cluster(kafka: RunningComponent, taken: Taken) -> None:
    engine, manifest = taken.engine, taken.manifest
    # An empty cluster: the broker restarts on freshly formatted storage.
    kafka.stop()
    shutil.rmtree(kafka.where.data_dir / LOG_DIR)
    kafka.start()
    assert TOPIC not in admin_client(bootstrap(kafka), 10).list_topics(timeout=10).topics
    # Nothing to back up is not a backup.
    listed = [m.id for m in engine.backups()]
    empty = engine.run_backup()
    assert empty.state == "failed"
    assert "holds no topic to back up" in empty.reason
    assert [m.id for m in engine.backups()] == listed

    restored = engine.restore(manifest, None)
    assert restored.state == "succeeded", restored.reason
    assert records(kafka, TOPIC, 3) == taken.before
    assert records(kafka, PLAIN, 1) == taken.plain
    assert retention_ms(kafka) == "604800000"

    consumer = group_consumer(kafka)
    consumer.subscribe([TOPIC])
    rest = consume(consumer, TOTAL)  # everything the group gets, until idle
    consumer.close()
    # Exactly the records it had not processed: none again, none skipped.
    assert len(rest) == KEPT - PROCESSED
    everything = sorted(v or b"" for rows in taken.before.values() for _k, v, _h, _t in rows)
    assert sorted(v or b"" for v in taken.processed + rest) == everything
