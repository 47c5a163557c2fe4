"""The Kafka side of a pipeline: the consumer group, the dead-letter producer, the
dead-letter topic."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DeadLetter",
    "KafkaSettings",
    "dlq_headers",
    "ensure_topic",
    "make_consumer",
    "make_producer",
]

_log = logging.getLogger("leapfrog.pipelines.kafka")


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str
    topic: str
    dlq_topic: str
    group: str
    client_id: str
    max_poll_interval_ms: int = 600_000
    """A batch may wait this long for its store before the group gives its partitions to
    another member (whose replay is harmless: writes are idempotent)."""


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes
    reason: str
    topic: str
    partition: int
    offset: int


def dlq_headers(pipeline: str, letter: DeadLetter) -> list[tuple[str, bytes]]:
    """Why and where from: the reason, and the record's topic, partition and offset."""
    return [
        ("leapfrog.dlq.reason", letter.reason.encode()),
        ("leapfrog.dlq.pipeline", pipeline.encode()),
        ("leapfrog.dlq.topic", letter.topic.encode()),
        ("leapfrog.dlq.partition", str(letter.partition).encode()),
        ("leapfrog.dlq.offset", str(letter.offset).encode()),
    ]


def make_consumer(settings: KafkaSettings, on_assign: Any, on_revoke: Any) -> Any:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap,
            "group.id": settings.group,
            "client.id": settings.client_id,
            # Offsets move only when the store has the records (commit after ack).
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "max.poll.interval.ms": settings.max_poll_interval_ms,
            "session.timeout.ms": 10_000,
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 1000,
            "fetch.wait.max.ms": 100,
            "logger": _log,
        }
    )
    consumer.subscribe([settings.topic], on_assign=on_assign, on_revoke=on_revoke)
    return consumer


def make_producer(settings: KafkaSettings) -> Any:
    from confluent_kafka import Producer

    return Producer(
        {
            "bootstrap.servers": settings.bootstrap,
            "client.id": f"{settings.client_id}-dlq",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 1000,
            "logger": _log,
        }
    )


def ensure_topic(bootstrap: str, name: str, timeout: float = 10.0, reach: float = 2.0) -> None:
    """Create the dead-letter topic when missing (one partition: it is for people to
    read, in order). Raises KafkaException while Kafka does not answer, after `reach`
    seconds: the pipeline tries again until it does, and sees a stop between tries (a
    longer wait held SIGTERM up for as long while Kafka was away)."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": _log}
    admin = AdminClient(config)
    metadata = admin.list_topics(timeout=reach)
    if name in metadata.topics and metadata.topics[name].error is None:
        return
    future = admin.create_topics([NewTopic(name, num_partitions=1)], request_timeout=timeout)[name]
    try:
        future.result(timeout=timeout)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
