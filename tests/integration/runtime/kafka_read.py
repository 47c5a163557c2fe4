"""Reading a topic of the session's broker from its start, until what a test looks for
has arrived."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition


class TopicReader:
    """Every record of a topic from offset 0, read as it comes; `wait` polls until a
    predicate over everything read so far holds."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"test-{uuid.uuid4()}",
                "enable.auto.commit": False,
            }
        )
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        self.values: list[bytes] = []

    def wait(self, found: Callable[[list[bytes]], bool], limit: float, what: str) -> None:
        deadline = time.monotonic() + limit
        while not found(self.values):
            if time.monotonic() > deadline:
                raise AssertionError(f"not found within {limit:g}s: {what}")
            for message in self.consumer.consume(500, 0.5):
                if message.error() is None and message.value() is not None:
                    self.values.append(message.value())

    def close(self) -> None:
        self.consumer.close()
