"""`ensure_topics` when a client got there first: a consumer or producer that reaches
the broker before the component's setup has it auto-create the topic with one partition;
setup still gives it the partitions the stack file declares (before the fix it took the
broker's "already exists" as done, and the next `up` grew the topic under its consumers)."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest

from leapfrog.components import _kafka_admin
from leapfrog.components._kafka_config import TopicOptions


class _Done:
    def __init__(self, error: str | None = None) -> None:
        self.error = error

    def result(self, timeout: float | None = None) -> None:
        if self.error is not None:
            raise RuntimeError(self.error)


class FakeAdmin:
    """The broker auto-creates `raced` (one partition) between listing and creating."""

    def __init__(self, topics: Mapping[str, int], raced: Mapping[str, int]) -> None:
        self.topics = dict(topics)
        self.raced = dict(raced)
        self.grown: list[tuple[str, int]] = []

    def list_topics(self, timeout: float) -> Any:
        shown = {
            n: SimpleNamespace(partitions=dict.fromkeys(range(p))) for n, p in self.topics.items()
        }
        return SimpleNamespace(topics=shown)

    def create_topics(self, new: list[Any], operation_timeout: float) -> dict[str, _Done]:
        self.topics.update(self.raced)
        answers = {}
        for topic in new:
            if topic.topic in self.raced:
                answers[topic.topic] = _Done("KafkaError{code=TOPIC_ALREADY_EXISTS}")
            else:
                self.topics[topic.topic] = topic.num_partitions
                answers[topic.topic] = _Done()
        return answers

    def create_partitions(self, wanted: list[Any]) -> dict[str, _Done]:
        for item in wanted:
            self.grown.append((item.topic, item.new_total_count))
            self.topics[item.topic] = item.new_total_count
        return {item.topic: _Done() for item in wanted}


def test_a_topic_auto_created_meanwhile_gets_its_declared_partitions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = FakeAdmin(topics={}, raced={"logs": 1})
    monkeypatch.setattr(_kafka_admin, "admin_client", lambda *_: admin)
    monkeypatch.setattr(_kafka_admin, "_configure", lambda *_: [])
    wanted = {"logs": TopicOptions(partitions=3), "metrics": TopicOptions(partitions=2)}
    changes = _kafka_admin.ensure_topics("127.0.0.1:9092", wanted)
    assert admin.topics == {"logs": 3, "metrics": 2}
    assert admin.grown == [("logs", 3)]
    assert changes == ["created topic metrics (2 partitions)", "topic logs: partitions 1 -> 3"]


def test_topics_made_here_are_not_grown_again(monkeypatch: pytest.MonkeyPatch) -> None:
    admin = FakeAdmin(topics={"old": 2}, raced={})
    monkeypatch.setattr(_kafka_admin, "admin_client", lambda *_: admin)
    monkeypatch.setattr(_kafka_admin, "_configure", lambda *_: [])
    changes = _kafka_admin.ensure_topics("127.0.0.1:9092", {"new": TopicOptions(partitions=4)})
    assert changes == ["created topic new (4 partitions)"]
    assert admin.grown == []
