"""The contract of a pipeline's store: what every sink (OpenSearch, InfluxDB) does.

The runner (`_runner.py`) owns Kafka: it consumes a batch, asks the sink to `decode`
each record into items (or reasons to reject it), hands the items to `write`, sends the
rejected ones to the dead-letter topic, and commits the offsets only once every item was
either acknowledged by the store or dead-lettered. A sink owns the store: its schema
(`prepare`), its writes, its retention. Writes must be idempotent (a replay after a
crash writes the same items again), which is what makes at-least-once delivery from
Kafka exactly once in the store.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

__all__ = [
    "Decoded",
    "ItemOutcome",
    "Rejected",
    "Retry",
    "Sink",
    "SinkUnavailable",
]

ItemT = TypeVar("ItemT")


class SinkUnavailable(Exception):
    """The store cannot take anything right now (down, overloaded, starting): the whole
    batch is retried after a backoff. The message says what was seen."""


@dataclass(frozen=True)
class Rejected:
    """A part of a record the store can never take; it goes to the dead-letter topic."""

    reason: str
    payload: bytes
    """What is dead-lettered: the whole record, or the one bad line of it."""


@dataclass(frozen=True)
class Decoded(Generic[ItemT]):
    """One Kafka record as the store's items, plus what of it is invalid."""

    items: list[ItemT] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(frozen=True)
class Retry:
    """The store refused this item for now (a full queue, a shard not ready)."""

    reason: str


ItemOutcome = None | Retry | Rejected
"""Per written item: None = acknowledged, Retry = write it again later, Rejected = never."""


class Sink(ABC, Generic[ItemT]):
    """One store. Called from the pipeline's one thread only."""

    name: ClassVar[str]
    """What the store is called in messages and metrics: `opensearch`, `influxdb`."""

    @abstractmethod
    def prepare(self) -> None:
        """Create what writes need (an index template, a database); idempotent.
        Raises SinkUnavailable while the store does not answer."""

    @abstractmethod
    def decode(self, value: bytes, timestamp_ms: int | None) -> Decoded[ItemT]:
        """A record's value as items; never raises. `timestamp_ms` is the record's Kafka
        timestamp, for items that carry no time of their own."""

    @abstractmethod
    def write(self, items: Sequence[ItemT]) -> list[ItemOutcome]:
        """Write a batch; one outcome per item, in order. Raises SinkUnavailable when the
        store took none of it (then the batch is retried whole)."""

    def retain(self) -> None:
        """Apply the retention policy (delete what is older than kept). Raises
        SinkUnavailable; the default keeps everything."""

    def close(self) -> None:
        """Release connections."""
