"""The pipeline loop with a fake Kafka and a fake store: commit only after the store's
ack, dead letters with reasons, backoff while the store is down, no commit on stop."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from leapfrog.pipelines import (
    Backoff,
    Decoded,
    ItemOutcome,
    KafkaSettings,
    Pipeline,
    PipelineSettings,
    Rejected,
    Retry,
    Sink,
    SinkUnavailable,
)


class Message:
    def __init__(self, offset: int, value: bytes | None, partition: int = 0) -> None:
        self._offset, self._value, self._partition = offset, value, partition

    def error(self) -> None:
        return None

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes:
        return b"k"

    def topic(self) -> str:
        return "logs"

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, 1000)


class FakeConsumer:
    def __init__(self, batches: list[list[Message]], stop: threading.Event) -> None:
        self.batches = batches
        self.stop = stop
        self.commits: list[list[tuple[str, int, int]]] = []
        self.empty_polls = 0

    def consume(self, num: int, timeout: float) -> list[Message]:
        if not self.batches:
            # The second empty poll: the last batch handed to the writer is done by now.
            self.empty_polls += 1
            if self.empty_polls == 2:
                self.stop.set()
            return []
        return self.batches.pop(0)

    def commit(self, offsets: list[Any], asynchronous: bool) -> None:
        self.commits.append([(o.topic, o.partition, o.offset) for o in offsets])

    def list_topics(self, topic: str, timeout: float) -> Any:
        return SimpleNamespace(topics={})

    def close(self) -> None:
        pass


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict[str, bytes]]] = []
        self._reports: list[Any] = []

    def produce(self, topic: str, key: bytes, value: bytes, headers: Any, on_delivery: Any) -> None:
        self.sent.append((topic, value, dict(headers)))
        self._reports.append(on_delivery)

    def flush(self, timeout: float) -> int:
        for report in self._reports:
            report(None, None)
        self._reports.clear()
        return 0

    def poll(self, timeout: float) -> None:
        pass


class FakeSink(Sink[bytes]):
    """Takes records `ok`, refuses `bad` for good, asks to retry `busy` once; down for
    the first `down` writes."""

    name = "fake"

    def __init__(self, down: int = 0) -> None:
        self.down = down
        self.stored: list[bytes] = []
        self.busy_seen = False
        self.writes = 0

    def prepare(self) -> None:
        pass

    def decode(self, value: bytes, timestamp_ms: int | None) -> Decoded[bytes]:
        if value.startswith(b"junk"):
            return Decoded(rejected=[Rejected("not an event", value)])
        return Decoded(items=[value])

    def write(self, items: Sequence[bytes]) -> list[ItemOutcome]:
        self.writes += 1
        if self.down > 0:
            self.down -= 1
            raise SinkUnavailable("connection refused")
        outcomes: list[ItemOutcome] = []
        for item in items:
            if item == b"bad":
                outcomes.append(Rejected("mapper_parsing_exception", item))
            elif item == b"busy" and not self.busy_seen:
                self.busy_seen = True
                outcomes.append(Retry("429"))
            else:
                self.stored.append(item)
                outcomes.append(None)
        return outcomes


def quick_settings(bootstrap: str) -> PipelineSettings:
    """The `logs` pipeline's settings, with a backoff of milliseconds."""
    return PipelineSettings(
        name="logs",
        kafka=KafkaSettings(bootstrap, "logs", "logs.dlq", "g", "c"),
        backoff=Backoff(first=0.01, most=0.02),
    )


def run(
    sink: FakeSink, batches: list[list[Message]], stop: threading.Event | None = None
) -> tuple[FakeConsumer, FakeProducer, Pipeline]:
    stop = stop or threading.Event()
    consumer = FakeConsumer(batches, stop)
    producer = FakeProducer()
    pipeline = Pipeline(
        quick_settings("k:9092"),
        sink,
        consumer_factory=lambda *_: consumer,
        producer_factory=lambda _: producer,
        topic_maker=lambda *_: None,
    )
    pipeline.run(stop)
    return consumer, producer, pipeline


def test_a_batch_is_committed_after_the_store_took_it() -> None:
    sink = FakeSink()
    consumer, producer, pipeline = run(
        sink, [[Message(0, b"a"), Message(1, b"b", partition=1), Message(2, b"c")]]
    )
    assert sink.stored == [b"a", b"b", b"c"]
    assert sorted(consumer.commits[0]) == [("logs", 0, 3), ("logs", 1, 2)]
    assert not producer.sent
    assert pipeline.stats.written == 3 and pipeline.stats.consumed == 3


def test_bad_input_goes_to_the_dead_letter_topic_with_its_reason_and_the_loop_goes_on() -> None:
    sink = FakeSink()
    batches = [
        [Message(0, b"junk!"), Message(1, b"bad"), Message(2, None), Message(3, b"ok")],
        [Message(4, b"next")],
    ]
    consumer, producer, pipeline = run(sink, batches)
    assert sink.stored == [b"ok", b"next"]
    reasons = [(value, headers["leapfrog.dlq.reason"]) for _, value, headers in producer.sent]
    assert reasons == [
        (b"junk!", b"not an event"),
        (b"", b"an empty record (no value)"),
        (b"bad", b"mapper_parsing_exception"),
    ]
    topic, _, headers = producer.sent[0]
    assert topic == "logs.dlq"
    assert headers["leapfrog.dlq.offset"] == b"0" and headers["leapfrog.dlq.topic"] == b"logs"
    assert consumer.commits == [[("logs", 0, 4)], [("logs", 0, 5)]]
    assert pipeline.stats.dead_lettered == 3


def test_the_store_down_is_waited_for_and_nothing_is_committed_before() -> None:
    sink = FakeSink(down=3)
    consumer, _, pipeline = run(sink, [[Message(0, b"a"), Message(1, b"busy")]])
    assert sink.writes == 5  # three refused, one with a retry asked, one for the retry
    assert sink.stored == [b"a", b"busy"]
    assert consumer.commits == [[("logs", 0, 2)]]
    assert pipeline.stats.retries == 4 and pipeline.stats.sink_up


def test_stop_while_the_store_is_down_commits_nothing() -> None:
    stop = threading.Event()
    sink = FakeSink(down=10**9)
    timer = threading.Timer(0.2, stop.set)
    timer.start()
    consumer, _, pipeline = run(sink, [[Message(0, b"a")]], stop)
    timer.cancel()
    assert consumer.commits == []
    assert not pipeline.stats.sink_up
    assert "waiting for fake (connection refused)" in pipeline.stats.health()["detail"]


def test_backoff_doubles_up_to_its_most() -> None:
    backoff = Backoff(first=1.0, most=4.0)
    assert 0.8 <= backoff.delay(0) <= 1.2
    assert 1.6 <= backoff.delay(1) <= 2.4
    assert 3.2 <= backoff.delay(10) <= 4.8


def test_a_stop_while_kafka_is_away_is_seen_within_seconds() -> None:
    """Nothing listens on the bootstrap address: the pipeline keeps trying to create its
    dead-letter topic (the real client, `ensure_topic`), and a stop ends that soon."""
    stop = threading.Event()
    consumer = FakeConsumer([], stop)
    pipeline = Pipeline(
        quick_settings("127.0.0.1:1"),
        FakeSink(),
        consumer_factory=lambda *_: consumer,
        producer_factory=lambda _: FakeProducer(),
    )
    runner = threading.Thread(target=pipeline.run, args=(stop,))
    runner.start()
    threading.Timer(0.5, stop.set).start()
    runner.join(5.0)
    alive = runner.is_alive()
    stop.set()
    runner.join()
    assert not alive, "the stop waited for Kafka's answer"
