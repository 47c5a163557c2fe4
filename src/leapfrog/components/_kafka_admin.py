"""Talk to a running broker with a real client (librdkafka): metadata and topics.

confluent_kafka is imported inside the functions: the component registry is loaded by
every CLI command, and most never talk to Kafka.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from leapfrog.components._kafka_config import TopicOptions
from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

__all__ = ["admin_client", "committed_offsets", "ensure_topics", "metadata_summary"]

_TIMEOUT = 10.0


def admin_client(bootstrap: str, timeout: float) -> AdminClient:
    from confluent_kafka.admin import AdminClient

    return AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "socket.timeout.ms": max(1000, int(timeout * 1000)),
            "socket.connection.setup.timeout.ms": max(1000, int(timeout * 1000)),
            # A broker that is still starting is expected: the probe reports it, not librdkafka.
            "log_level": 0,
        }
    )


def committed_offsets(
    bootstrap: str, group: str, partitions: Iterable[tuple[str, int]], timeout: float
) -> dict[tuple[str, int], int]:
    """`group`'s committed offsets of `partitions`, those it has committed, by (topic,
    partition). Read by a consumer of the group that joins nothing and commits nothing,
    not by the admin API's ListConsumerGroupOffsets: when a broker that just started
    answers that NOT_COORDINATOR, librdkafka (2.x, still so upstream) hands the retry to
    the consumer group of an admin client, which has none, and the whole process dies of
    a segmentation fault (confluentinc/librdkafka#5040). Raises the client's
    KafkaException (a coordinator still loading is retried inside `timeout`)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    wanted = [TopicPartition(topic, partition) for topic, partition in partitions]
    if not wanted:
        return {}
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "socket.timeout.ms": max(1000, int(timeout * 1000)),
            "log_level": 0,
        }
    )
    try:
        answer = consumer.committed(wanted, timeout=timeout)
    finally:
        consumer.close()
    found: dict[tuple[str, int], int] = {}
    for tp in answer:
        if tp.error:
            raise KafkaException(tp.error)
        if tp.offset >= 0:
            found[(tp.topic, tp.partition)] = tp.offset
    return found


def metadata_summary(bootstrap: str, timeout: float) -> tuple[bool, str]:
    """(healthy, detail) from one metadata request; never raises."""
    try:
        metadata = admin_client(bootstrap, timeout).list_topics(timeout=timeout)
    except Exception as exc:  # any client failure is an unhealthy probe, said in one line
        return False, f"metadata from {bootstrap}: {_first_line(exc)}"
    brokers = len(metadata.brokers)
    topics = sum(1 for name in metadata.topics if not name.startswith("__"))
    if brokers == 0:
        return False, f"metadata from {bootstrap}: no broker registered yet"
    return True, f"{brokers} broker{'s' * (brokers != 1)}, {topics} topic{'s' * (topics != 1)}"


def ensure_topics(bootstrap: str, topics: Mapping[str, TopicOptions]) -> list[str]:
    """Create missing topics, raise partition counts, set differing configs; the changes."""
    if not topics:
        return []
    admin = admin_client(bootstrap, _TIMEOUT)
    existing = admin.list_topics(timeout=_TIMEOUT).topics
    changes, raced = _create(admin, {n: t for n, t in topics.items() if n not in existing})
    if raced:  # made meanwhile, with the broker's defaults, by a client's auto-creation
        now = admin.list_topics(timeout=_TIMEOUT).topics
        existing = {**existing, **{name: now[name] for name in raced if name in now}}
    for name, topic in topics.items():
        if name not in existing:
            continue
        have = len(existing[name].partitions)
        if topic.partitions < have:
            raise LeapfrogError(
                f"kafka topic `{name}` has {have} partitions; the stack file asks for "
                f"{topic.partitions}, and Kafka cannot remove partitions",
                hint=f"set partitions: {have} or more, or delete the topic",
            )
        if topic.partitions > have:
            changes += _grow(admin, name, topic.partitions, have)
        changes += _configure(admin, name, topic.topic_config())
    return changes


def _create(admin: AdminClient, topics: Mapping[str, TopicOptions]) -> tuple[list[str], set[str]]:
    """The changes, and the topics that existed by the time of the request (a consumer
    or producer that came first had the broker create them): those still need their
    partitions and configs checked."""
    from confluent_kafka.cimpl import NewTopic

    if not topics:
        return [], set()
    new = [
        NewTopic(name, t.partitions, t.replication_factor, config=t.topic_config())
        for name, t in topics.items()
    ]
    futures = admin.create_topics(new, operation_timeout=_TIMEOUT)
    made = set(_wait(futures, "create topic", ok="TOPIC_ALREADY"))
    changes = [
        f"created topic {name} ({t.partitions} partitions)"
        for name, t in topics.items()
        if name in made
    ]
    return changes, set(topics) - made


def _grow(admin: AdminClient, name: str, wanted: int, have: int) -> list[str]:
    from confluent_kafka.cimpl import NewPartitions

    _wait(admin.create_partitions([NewPartitions(name, wanted)]), "add partitions to")
    return [f"topic {name}: partitions {have} -> {wanted}"]


def _configure(admin: AdminClient, name: str, wanted: Mapping[str, str]) -> list[str]:
    # confluent_kafka.admin re-exports these without declaring it, which mypy rejects.
    from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource

    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    described: Any = _wait(admin.describe_configs([resource]), "read configs of")[resource]
    current = {key: entry.value for key, entry in described.items()}
    differing = {key: value for key, value in wanted.items() if current.get(key) != value}
    if not differing:
        return []
    entries = [
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
        for key, value in differing.items()
    ]
    update = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=entries)
    _wait(admin.incremental_alter_configs([update]), "set configs of")
    return [f"topic {name}: {key}={value}" for key, value in differing.items()]


def _wait(futures: Mapping[Any, Any], action: str, ok: str = "") -> dict[Any, Any]:
    """Each future's result; a failure becomes a LeapfrogError naming the topic."""
    results: dict[Any, Any] = {}
    for key, future in futures.items():
        try:
            results[key] = future.result(timeout=_TIMEOUT)
        except Exception as exc:
            if ok and ok in str(exc):
                continue
            name = getattr(key, "name", key)
            raise LeapfrogError(
                f"kafka: could not {action} topic `{name}`: {_first_line(exc)}"
            ) from None
    return results


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
