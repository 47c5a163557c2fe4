"""Message DB's SQL interface, shared by the sync and async stores: the statements, the
parameters of a write, rows to messages, and its errors to the event store's."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from leapfrog.eventstore._model import EventStoreError, Message, WrongExpectedVersion
from leapfrog.shared.errors import LeapfrogError

__all__ = [
    "CONNECT_OPTIONS",
    "LAST_MESSAGE",
    "READ_CATEGORY",
    "READ_STREAM",
    "STREAM_VERSION",
    "WRITE",
    "message_db_url",
    "store_error",
    "to_message",
    "write_params",
]

URL_VARIABLE = "MESSAGE_DB_URL"
CONNECT_OPTIONS = "-c search_path=message_store,public"
"""Message DB's functions name its tables without a schema."""

_COLUMNS = "id, stream_name, type, position, global_position, data, metadata, time"
WRITE = "SELECT write_message(%s, %s, %s, %s, %s, %s)"
READ_STREAM = f"SELECT {_COLUMNS} FROM get_stream_messages(%s, %s, %s)"
READ_CATEGORY = f"SELECT {_COLUMNS} FROM get_category_messages(%s, %s, %s)"
LAST_MESSAGE = f"SELECT {_COLUMNS} FROM get_last_stream_message(%s)"
STREAM_VERSION = "SELECT stream_version(%s)"

# Message DB's own words, raised from its write_message function.
_WRONG_VERSION = re.compile(
    r"Wrong expected version: (-?\d+) \(Stream: .*, Stream Version: (-?\d+)\)"
)


def message_db_url(url: str | None = None) -> str:
    """`url`, else $MESSAGE_DB_URL (what leapfrog hands services using Message DB)."""
    found = url or os.environ.get(URL_VARIABLE)
    if not found:
        raise LeapfrogError(
            f"no Message DB to connect to: {URL_VARIABLE} is not set",
            hint="set `message_db: true` on the postgres component, or pass a URL",
        )
    return found


def write_params(
    stream: str,
    type_: str,
    data: Mapping[str, Any],
    metadata: Mapping[str, Any] | None,
    expected_version: int | None,
) -> list[Any]:
    from psycopg.types.json import Jsonb

    metadata_value = Jsonb(dict(metadata)) if metadata is not None else None
    return [str(uuid.uuid4()), stream, type_, Jsonb(dict(data)), metadata_value, expected_version]


def to_message(row: Sequence[Any]) -> Message:
    id_, stream, type_, position, global_position, data, metadata, time = row
    return Message(
        id=str(id_),
        stream=stream,
        type=type_,
        position=int(position),
        global_position=int(global_position),
        data=json.loads(data) if data else {},
        metadata=json.loads(metadata) if metadata else None,
        # Message DB stores UTC without a zone.
        time=time.replace(tzinfo=UTC) if isinstance(time, datetime) else time,
    )


def store_error(exc: Exception, stream: str) -> EventStoreError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    match = _WRONG_VERSION.search(text)
    if match:
        expected, actual = (int(group) for group in match.groups())
        return WrongExpectedVersion(stream, expected, None if actual < 0 else actual)
    return EventStoreError(f"{stream}: {text}")
