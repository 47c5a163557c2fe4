"""What every event store backend speaks: messages, the store's operations, its errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = ["NO_STREAM", "EventStore", "EventStoreError", "Message", "WrongExpectedVersion"]

NO_STREAM = -1
"""An expected version saying "this stream must not exist yet" (no message written)."""


@dataclass(frozen=True)
class Message:
    id: str
    stream: str
    type: str
    position: int
    """Place in its stream: 0 for the stream's first message."""
    global_position: int
    """Place in the whole store; categories are read by it."""
    data: Mapping[str, Any]
    metadata: Mapping[str, Any] | None
    time: datetime
    """When it was written, in UTC."""


class EventStoreError(Exception):
    """The store refused an operation; the message says what and why."""


class WrongExpectedVersion(EventStoreError):
    """A write with an expected version found the stream at another version: someone
    else wrote to it since it was read (optimistic concurrency)."""

    def __init__(self, stream: str, expected: int, actual: int | None) -> None:
        self.stream = stream
        self.expected = expected
        self.actual = actual
        """The stream's version when the write was tried; None when it had no message."""
        found = "has no messages yet" if actual is None else f"is at version {actual}"
        wanted = "not to exist" if expected == NO_STREAM else f"to be at version {expected}"
        super().__init__(
            f"stream {stream!r} {found}, but the write expected it {wanted}; "
            "read the stream again and retry"
        )


class EventStore(Protocol):
    """A store of streams of messages. Backends: Message DB (local), EventStoreDB later.

    Stream names are `category-id` (`account-123`); a category (`account`) is every
    stream whose name starts with it and a dash.
    """

    def write(
        self,
        stream: str,
        type: str,
        data: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> int:
        """Append one message; returns its position in the stream. With
        `expected_version` (NO_STREAM for a new stream) the write happens only if the
        stream is at that version, else raises WrongExpectedVersion."""
        ...

    def read_stream(self, stream: str, position: int = 0, batch_size: int = 1000) -> list[Message]:
        """Messages of one stream from `position` on, in order, at most `batch_size`."""
        ...

    def read_category(
        self, category: str, position: int = 0, batch_size: int = 1000
    ) -> list[Message]:
        """Messages of every stream in the category from global position `position` on."""
        ...

    def last_message(self, stream: str) -> Message | None:
        """The stream's newest message; None for a stream without messages."""
        ...

    def stream_version(self, stream: str) -> int | None:
        """Position of the stream's newest message; None for a stream without messages."""
        ...

    def close(self) -> None: ...
