"""The pipeline loop: consume a batch, decode, write, dead-letter, then commit.

Offsets are committed only once every record of the batch is either acknowledged by
the store or delivered to the dead-letter topic. While the store does not answer, the
batch is retried with a growing backoff and nothing is committed, so a crash at any
point replays at most the batch in hand, which the sink writes idempotently. Bad input
never stops the loop: each bad record (or line) goes to the dead-letter topic with its
reason in the headers.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from leapfrog.pipelines._kafka import (
    DeadLetter,
    KafkaSettings,
    dlq_headers,
    ensure_topic,
    make_consumer,
    make_producer,
)
from leapfrog.pipelines._sink import Rejected, Retry, Sink, SinkUnavailable
from leapfrog.pipelines._stats import PipelineStats

__all__ = ["Backoff", "Pipeline", "PipelineSettings"]

_log = logging.getLogger("leapfrog.pipelines")
_TICK = 5.0
"""How often lag is measured and retention considered (seconds)."""


@dataclass(frozen=True)
class Backoff:
    first: float = 0.25
    most: float = 5.0

    def delay(self, attempt: int) -> float:
        """Doubling from `first` to `most`, with +-20% jitter so instances spread out."""
        base = min(self.most, self.first * float(2 ** min(attempt, 30)))
        return base * random.uniform(0.8, 1.2)


@dataclass(frozen=True)
class PipelineSettings:
    name: str
    """`logs` or `metrics`: in messages, metrics and the DLQ headers."""
    kafka: KafkaSettings
    batch_size: int = 2000
    batch_wait: float = 0.2
    """Longest wait for a batch to fill once the first record is there."""
    backoff: Backoff = Backoff()
    retention_every: float = 3600.0


class Pipeline:
    def __init__(
        self,
        settings: PipelineSettings,
        sink: Sink[Any],
        stats: PipelineStats | None = None,
        *,
        consumer_factory: Callable[..., Any] = make_consumer,
        producer_factory: Callable[[KafkaSettings], Any] = make_producer,
        topic_maker: Callable[[str, str], None] = ensure_topic,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.stats = stats or PipelineStats(settings.name, sink.name)
        self._consumer_factory = consumer_factory
        self._producer_factory = producer_factory
        self._topic_maker = topic_maker
        self._next_tick = 0.0
        self._next_retention = 0.0
        self._consumer: Any = None
        self._sink_down_since: float | None = None
        self._in_flight: Future[bool] | None = None

    # -- the loop -------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set. A batch in hand when the store is down is not committed."""
        kafka = self.settings.kafka
        producer = self._producer_factory(kafka)
        consumer = self._consumer_factory(kafka, self._assigned, self._revoked)
        # Set before waiting for the store, so the lag is measured while it is awaited.
        self._consumer = consumer
        ready = self._until_ok(stop, "creating the dead-letter topic", self._make_dlq_topic)
        if ready:
            ready = self._until_ok(stop, f"preparing {self.sink.name}", self._prepare_sink)
        if ready:
            _log.info("consuming %s as group %s into %s", kafka.topic, kafka.group, self.sink.name)
        # One batch is written (and committed) by the writer thread while this one
        # consumes and decodes the next: the store never waits for Python's decoding.
        # Commits stay in order: a batch is handed over only once the one before is done.
        writer = ThreadPoolExecutor(1, thread_name_prefix="pipeline-write")
        try:
            while ready and not stop.is_set():
                began = time.perf_counter()
                messages = consumer.consume(self.settings.batch_size, self.settings.batch_wait)
                consumed = time.perf_counter()
                self._tick()
                batch = self._decode(messages) if messages else None
                seconds = self.stats.seconds
                seconds["consume"] += consumed - began
                seconds["decode"] += time.perf_counter() - consumed
                if not self._finish_in_flight():
                    break
                if batch is not None:
                    self._in_flight = writer.submit(self._deliver, batch, producer, consumer, stop)
        finally:
            stop.set()  # a batch still waiting for its store gives up, uncommitted
            self._finish_in_flight()
            writer.shutdown()
            consumer.close()
            producer.flush(5.0)
            self.sink.close()

    def _finish_in_flight(self) -> bool:
        """Wait for the batch being written; False if it was abandoned on stop."""
        future, self._in_flight = self._in_flight, None
        return future is None or future.result()

    def _decode(self, messages: list[Any]) -> _Batch | None:
        records = []
        for message in messages:
            error = message.error()
            if error is None:
                records.append(message)
            else:
                _log.warning("Kafka: %s", error.str())
        if not records:
            return None
        self.stats.consumed += len(records)
        batch = _Batch(records)
        for message in records:
            value = message.value()
            kind, stamp = message.timestamp()
            if value is None:
                batch.dead.append(_letter(message, Rejected("an empty record (no value)", b"")))
                continue
            decoded = self.sink.decode(value, stamp if kind else None)
            batch.pending.extend((message, item) for item in decoded.items)
            batch.dead.extend(_letter(message, rejected) for rejected in decoded.rejected)
        return batch

    def _deliver(self, batch: _Batch, producer: Any, consumer: Any, stop: threading.Event) -> bool:
        """Write, dead-letter, commit; False when stop came first (nothing committed)."""
        began = time.perf_counter()
        if not self._write(batch.pending, batch.dead, stop):
            return False
        if batch.dead and not self._dead_letter(batch.dead, producer, stop):
            return False
        written = time.perf_counter()
        self._commit(consumer, batch.records)
        self.stats.seconds["write"] += written - began
        self.stats.seconds["commit"] += time.perf_counter() - written
        return True

    def _write(
        self, pending: list[tuple[Any, Any]], dead: list[DeadLetter], stop: threading.Event
    ) -> bool:
        """Every item acknowledged or rejected (True), or stop asked while waiting (False)."""
        attempt = 0
        while pending:
            try:
                outcomes = self.sink.write([item for _, item in pending])
            except SinkUnavailable as exc:
                self._sink_failed(str(exc))
                self.stats.retries += 1
                if not self._pause(self.settings.backoff.delay(attempt), stop):
                    return False
                attempt += 1
                continue
            self._sink_answered()
            again: list[tuple[Any, Any]] = []
            for (message, item), outcome in zip(pending, outcomes, strict=True):
                if outcome is None:
                    self.stats.written += 1
                elif isinstance(outcome, Retry):
                    again.append((message, item))
                else:
                    dead.append(_letter(message, outcome))
            pending = again
            if pending:
                self.stats.retries += 1
                _log.info("%s asked to retry %d items", self.sink.name, len(pending))
                if not self._pause(self.settings.backoff.delay(attempt), stop):
                    return False
                attempt += 1
        return True

    def _dead_letter(self, dead: list[DeadLetter], producer: Any, stop: threading.Event) -> bool:
        """Every letter acknowledged by Kafka (True), or stop asked while retrying."""
        attempt = 0
        while dead:
            failed: list[DeadLetter] = []
            for letter in dead:
                try:
                    producer.produce(
                        self.settings.kafka.dlq_topic,
                        key=letter.key,
                        value=letter.value,
                        headers=dlq_headers(self.settings.name, letter),
                        on_delivery=_report_into(failed, letter),
                    )
                except BufferError:
                    producer.poll(1.0)
                    failed.append(letter)
            # Each record is reported, delivered or failed, within message.timeout.ms.
            while producer.flush(1.0):
                self._tick()
                if stop.is_set():
                    return False
            self.stats.dead_lettered += len(dead) - len(failed)
            dead = failed
            if dead and not self._pause(self.settings.backoff.delay(attempt), stop):
                return False
            attempt += 1
        return True

    def _commit(self, consumer: Any, records: list[Any]) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        last: dict[tuple[str, int], int] = {}
        for message in records:
            key = (message.topic(), message.partition())
            last[key] = max(last.get(key, -1), message.offset())
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # Lost the partitions in a rebalance: their new owner replays them, harmlessly.
            _log.warning("commit refused (%s); the records will be written again", exc)
            return

    # -- waiting, measuring -----------------------------------------------------------

    def _until_ok(self, stop: threading.Event, what: str, step: Callable[[], None]) -> bool:
        """Run `step` until it succeeds (True) or stop is asked (False)."""
        attempt = 0
        while not stop.is_set():
            try:
                step()
            except Exception as exc:  # SinkUnavailable, KafkaException: wait and retry
                if isinstance(exc, SinkUnavailable):
                    self._sink_failed(str(exc))
                elif attempt % 10 == 0:
                    _log.warning("%s: %s; retrying", what, exc)
                self._pause(self.settings.backoff.delay(attempt), stop)
                attempt += 1
                continue
            return True
        return False

    def _prepare_sink(self) -> None:
        self.sink.prepare()
        self._sink_answered()

    def _pause(self, seconds: float, stop: threading.Event) -> bool:
        """Sleep (measuring as usual); False when stop was asked."""
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            self._tick()
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            stop.wait(min(left, 1.0))
        return False

    def _sink_failed(self, problem: str) -> None:
        self.stats.sink_up = False
        self.stats.sink_problem = problem
        if self._sink_down_since is None:
            self._sink_down_since = time.monotonic()
            _log.warning("%s unavailable: %s; retrying with backoff", self.sink.name, problem)

    def _sink_answered(self) -> None:
        self.stats.sink_up = True
        self.stats.sink_problem = ""
        if self._sink_down_since is not None:
            took = time.monotonic() - self._sink_down_since
            _log.info("%s answers again after %.1fs", self.sink.name, took)
            self._sink_down_since = None

    def _tick(self) -> None:
        self.stats.turned()
        now = time.monotonic()
        if now < self._next_tick:
            return
        self._next_tick = now + _TICK
        if self._consumer is not None:
            self._measure_lag(self._consumer)
        if now >= self._next_retention and self.stats.sink_up:
            self._next_retention = now + self.settings.retention_every
            try:
                self.sink.retain()
            except SinkUnavailable as exc:
                _log.warning("retention: %s; trying again later", exc)
                self._next_retention = now + 60.0

    def _measure_lag(self, consumer: Any) -> None:
        """The group's lag on the whole topic: what Kafka holds beyond the group's
        committed offsets. Asked of the broker, so it is known even before this member
        is assigned partitions (while it waits for its store)."""
        from confluent_kafka import KafkaException, TopicPartition

        topic = self.settings.kafka.topic
        lag = 0
        try:
            metadata = consumer.list_topics(topic, timeout=2.0).topics.get(topic)
            if metadata is None or metadata.error is not None:
                return
            partitions = [TopicPartition(topic, p) for p in metadata.partitions]
            for tp in consumer.committed(partitions, timeout=2.0):
                low, high = consumer.get_watermark_offsets(tp, timeout=2.0, cached=False)
                lag += max(0, high - max(tp.offset, low))
        except KafkaException as exc:
            _log.debug("lag not measured: %s", exc)
            return
        self.stats.lag = lag

    def _make_dlq_topic(self) -> None:
        self._topic_maker(self.settings.kafka.bootstrap, self.settings.kafka.dlq_topic)

    def _assigned(self, _consumer: Any, partitions: list[Any]) -> None:
        _log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions))

    def _revoked(self, _consumer: Any, partitions: list[Any]) -> None:
        # The batch being written commits before the partitions go to another member.
        self._finish_in_flight()
        _log.info("revoked %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions))


@dataclass
class _Batch:
    records: list[Any]
    """The Kafka messages, committed together."""
    pending: list[tuple[Any, Any]] = field(default_factory=list)
    """(message, item) still to write."""
    dead: list[DeadLetter] = field(default_factory=list)


def _letter(message: Any, rejected: Rejected) -> DeadLetter:
    return DeadLetter(
        key=message.key(),
        value=rejected.payload,
        reason=rejected.reason,
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
    )


def _report_into(failed: list[DeadLetter], letter: DeadLetter) -> Callable[[Any, Any], None]:
    """A delivery report that keeps `letter` in `failed` when Kafka did not take it."""

    def report(error: Any, _message: Any) -> None:
        if error is not None:
            _log.warning("dead-letter topic: %s", error)
            failed.append(letter)

    return report
