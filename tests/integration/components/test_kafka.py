"""The Kafka component against the real broker: clients, Kafka's own tools, topics, restart."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource

from leapfrog.components._kafka_metrics import kafka_samples
from leapfrog.testing import RunningComponent, run_component, scratch_dir

ADDRESS = "127.0.0.21"
DECLARED = {
    "orders": {"partitions": 3, "retention": "2d", "cleanup_policy": "delete"},
    "customers": {"partitions": 2, "cleanup_policy": "compact"},
}


@pytest.fixture(scope="module")
def kafka() -> Iterator[RunningComponent]:
    with (
        scratch_dir("lf-kafka-") as base,
        run_component("kafka", {"topics": DECLARED}, base, address=ADDRESS) as running,
    ):
        yield running


def bootstrap(kafka: RunningComponent) -> str:
    return kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]


def produce(kafka: RunningComponent, topic: str, values: list[str]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap(kafka)})
    for value in values:
        producer.produce(topic, value.encode())
    assert producer.flush(30) == 0


def consume(kafka: RunningComponent, topic: str, count: int, group: str = "") -> list[str]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap(kafka),
            "group.id": group or f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    values: list[str] = []
    try:
        for _ in range(300):
            if len(values) >= count:
                break
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                values.append(message.value().decode())
    finally:
        consumer.close()
    return values


def kafka_tool(kafka: RunningComponent, main_class: str, *args: str, stdin: str = "") -> str:
    """Run one of Kafka's command-line tools from the jars the component resolved."""
    java, argfile = kafka.installation.extra["java"], kafka.installation.extra["argfile"]
    result = subprocess.run(
        [java, "-XX:TieredStopAtLevel=1", f"@{argfile}", main_class, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.timeout(120)
def test_a_python_client_produces_and_consumes(kafka: RunningComponent) -> None:
    topic = f"py-{uuid.uuid4().hex[:8]}"
    produce(kafka, topic, ["one", "two", "three"])
    assert consume(kafka, topic, 3) == ["one", "two", "three"]


@pytest.mark.timeout(300)
def test_kafkas_own_console_tools_produce_and_consume(kafka: RunningComponent) -> None:
    topic = f"cli-{uuid.uuid4().hex[:8]}"
    server = ["--bootstrap-server", bootstrap(kafka), "--topic", topic]
    kafka_tool(kafka, "org.apache.kafka.tools.ConsoleProducer", *server, stdin="alpha\nbeta\n")
    out = kafka_tool(
        kafka,
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        *server,
        "--from-beginning",
        "--max-messages",
        "2",
        "--timeout-ms",
        "60000",
    )
    assert out.split() == ["alpha", "beta"]


@pytest.mark.timeout(120)
def test_declared_topics_exist_with_their_partitions_and_configs(kafka: RunningComponent) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap(kafka)})
    topics = admin.list_topics(timeout=10).topics
    assert len(topics["orders"].partitions) == 3
    assert len(topics["customers"].partitions) == 2
    assert configs(admin, "orders")["retention.ms"] == str(2 * 86_400_000)
    assert configs(admin, "customers")["cleanup.policy"] == "compact"


@pytest.mark.timeout(120)
def test_setup_raises_partitions_and_updates_configs(kafka: RunningComponent) -> None:
    topic = f"grow-{uuid.uuid4().hex[:8]}"
    first = kafka.component.options({"topics": {topic: {"partitions": 1}}})
    asyncio.run(kafka.component.setup(first, kafka.where))
    wanted = {"partitions": 4, "retention": "1h", "cleanup_policy": "compact"}
    changed = kafka.component.options({"topics": {topic: wanted}})
    asyncio.run(kafka.component.setup(changed, kafka.where))
    admin = AdminClient({"bootstrap.servers": bootstrap(kafka)})
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 4
    assert configs(admin, topic)["retention.ms"] == "3600000"
    assert configs(admin, topic)["cleanup.policy"] == "compact"


@pytest.mark.timeout(300)
def test_records_survive_a_restart(kafka: RunningComponent) -> None:
    topic = f"keep-{uuid.uuid4().hex[:8]}"
    produce(kafka, topic, ["before-stop"])
    assert kafka.stop() is not None
    assert not kafka.health().ok
    kafka.start()
    assert consume(kafka, topic, 1) == ["before-stop"]
    assert "1 broker" in kafka.health().detail


_GROUP_READER = """
import sys
from pathlib import Path
from leapfrog.components._kafka_admin import committed_offsets
from leapfrog.components._kafka_metrics import kafka_samples
bootstrap, topic, group, stop = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
# The group, and groups in every other partition of __consumer_offsets, as the backup's
# probes ask while the broker starts.
groups = [group, *(f"probe-{i}" for i in range(60))]
reads = 0
while not stop.exists():
    for name in groups:
        try:
            committed_offsets(bootstrap, name, [(topic, 0)], 2.0)
            reads += 1
        except Exception:
            pass  # down or starting: said by the caller, never a crash
    try:
        kafka_samples(bootstrap, timeout=2.0)
    except Exception:
        pass
print(reads)
"""


def test_group_offsets_read_across_a_restart_do_not_bring_the_reader_down(
    kafka: RunningComponent, tmp_path: Path
) -> None:
    """The collector reads every group's lag in the supervisor's process, and a backup
    every group's offsets. Asked through the admin API's ListConsumerGroupOffsets, a broker
    that just started answers NOT_COORDINATOR and librdkafka dies of a segmentation fault
    (it took the backup tests' pytest with it, one run in four); read through the group's
    consumer, a process asking all the way through a restart lives, and the lag is right
    after it."""
    topic = f"lag-{uuid.uuid4().hex[:8]}"
    produce(kafka, topic, ["a", "b", "c"])
    group = f"lag-group-{uuid.uuid4().hex[:8]}"
    assert consume(kafka, topic, 1, group) == ["a"]  # the group commits offset 1 on close
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", _GROUP_READER, bootstrap(kafka), topic, group, str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1)
        assert kafka.stop() is not None
        kafka.start()
        time.sleep(5)  # reading on while the coordinator loads its groups
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=120)
    assert reader.returncode == 0, f"the reader died with {reader.returncode}"
    assert int(out) > 0
    lags = [
        s.value
        for s in kafka_samples(bootstrap(kafka))
        if s.name == "kafka_consumer_group_lag" and s.labels.get("group") == group
    ]
    assert lags == [2]


def configs(admin: AdminClient, topic: str) -> dict[str, str]:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    described = admin.describe_configs([resource])[resource].result(timeout=10)
    return {key: entry.value for key, entry in described.items()}
