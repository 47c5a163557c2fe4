"""Kafka's figures through the admin API (librdkafka): topics, partitions and their end
offsets, under-replicated partitions, and each consumer group's lag."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from leapfrog.components._kafka_admin import admin_client, committed_offsets
from leapfrog.telemetry import Sample

__all__ = ["kafka_samples"]


def kafka_samples(bootstrap: str, timeout: float = 5.0) -> list[Sample]:
    """Blocking (run it in a thread). Raises the client's error when the broker does not
    answer."""
    from confluent_kafka import TopicPartition

    # confluent_kafka.admin re-exports it without declaring it, which mypy rejects.
    from confluent_kafka.admin._listoffsets import OffsetSpec

    admin = admin_client(bootstrap, timeout)
    metadata = admin.list_topics(timeout=timeout)
    samples = [Sample("kafka_brokers", len(metadata.brokers))]
    partitions: list[Any] = []
    under_replicated = 0
    for name, topic in metadata.topics.items():
        if name.startswith("__"):
            continue
        samples.append(Sample("kafka_topic_partitions", len(topic.partitions), {"topic": name}))
        for number, partition in topic.partitions.items():
            partitions.append(TopicPartition(name, number))
            under_replicated += len(partition.isrs) < len(partition.replicas)
    samples.append(Sample("kafka_under_replicated_partitions", under_replicated))
    ends: dict[tuple[str, int], int] = {}
    if partitions:
        latest: Any = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        wanted = dict.fromkeys(partitions, latest)
        for tp, future in admin.list_offsets(wanted, request_timeout=timeout).items():
            ends[(tp.topic, tp.partition)] = future.result(timeout).offset
    per_topic: dict[str, int] = defaultdict(int)
    for (topic_name, _), end in ends.items():
        per_topic[topic_name] += max(end, 0)
    samples += [Sample("kafka_topic_end_offset", v, {"topic": t}) for t, v in per_topic.items()]
    groups: Any = admin.list_consumer_groups(request_timeout=timeout).result(timeout).valid
    for group in groups:
        lag: dict[str, int] = defaultdict(int)
        committed = committed_offsets(bootstrap, group.group_id, ends, timeout)
        for key, offset in committed.items():
            lag[key[0]] += max(ends[key] - offset, 0)
        samples += [
            Sample("kafka_consumer_group_lag", v, {"group": group.group_id, "topic": t})
            for t, v in lag.items()
        ]
    return samples
