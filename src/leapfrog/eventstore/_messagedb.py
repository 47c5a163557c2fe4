"""The event store on Message DB (PostgreSQL), through psycopg 3, synchronously."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from leapfrog.eventstore._model import EventStoreError, Message, WrongExpectedVersion
from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    import psycopg

__all__ = ["MessageDbStore", "message_db_url"]

URL_VARIABLE = "MESSAGE_DB_URL"
# Message DB's own words, raised from its write_message function.
_WRONG_VERSION = re.compile(
    r"Wrong expected version: (-?\d+) \(Stream: (.*), Stream Version: (-?\d+)\)"
)
# Message DB's functions name its tables without a schema.
_OPTIONS = "-c search_path=message_store,public"
_COLUMNS = "id, stream_name, type, position, global_position, data, metadata, time"


def message_db_url(url: str | None = None) -> str:
    """`url`, else $MESSAGE_DB_URL (what leapfrog hands services using Message DB)."""
    found = url or os.environ.get(URL_VARIABLE)
    if not found:
        raise LeapfrogError(
            f"no Message DB to connect to: {URL_VARIABLE} is not set",
            hint="set `message_db: true` on the postgres component, or pass a URL",
        )
    return found


def _message(row: Sequence[Any]) -> Message:
    id_, stream, type_, position, global_position, data, metadata, time = row
    return Message(
        id=str(id_),
        stream=stream,
        type=type_,
        position=int(position),
        global_position=int(global_position),
        data=json.loads(data) if data else {},
        metadata=json.loads(metadata) if metadata else None,
        time=time.replace(tzinfo=UTC) if isinstance(time, datetime) else time,
    )


def _store_error(exc: Exception, stream: str) -> EventStoreError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    match = _WRONG_VERSION.search(text)
    if match:
        expected, _, actual = match.groups()
        version = int(actual)
        return WrongExpectedVersion(stream, int(expected), None if version < 0 else version)
    return EventStoreError(f"{stream}: {text}")


class MessageDbStore:
    """An EventStore on Message DB. Opens its connection on first use; close() or a
    `with` block closes it."""

    def __init__(self, url: str | None = None) -> None:
        self._url = message_db_url(url)
        self._conn: psycopg.Connection[Any] | None = None

    def __enter__(self) -> MessageDbStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def write(
        self,
        stream: str,
        type: str,
        data: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> int:
        from psycopg.types.json import Jsonb

        metadata_value = Jsonb(dict(metadata)) if metadata is not None else None
        row = self._one(
            "SELECT write_message(%s, %s, %s, %s, %s, %s)",
            [str(uuid.uuid4()), stream, type, Jsonb(dict(data)), metadata_value, expected_version],
            stream,
        )
        assert row is not None  # write_message always returns the position
        return int(row[0])

    def read_stream(self, stream: str, position: int = 0, batch_size: int = 1000) -> list[Message]:
        sql = f"SELECT {_COLUMNS} FROM get_stream_messages(%s, %s, %s)"
        return [_message(row) for row in self._all(sql, [stream, position, batch_size], stream)]

    def read_category(
        self, category: str, position: int = 0, batch_size: int = 1000
    ) -> list[Message]:
        sql = f"SELECT {_COLUMNS} FROM get_category_messages(%s, %s, %s)"
        return [_message(row) for row in self._all(sql, [category, position, batch_size], category)]

    def last_message(self, stream: str) -> Message | None:
        rows = self._all(f"SELECT {_COLUMNS} FROM get_last_stream_message(%s)", [stream], stream)
        return _message(rows[0]) if rows else None

    def stream_version(self, stream: str) -> int | None:
        row = self._one("SELECT stream_version(%s)", [stream], stream)
        return None if row is None or row[0] is None else int(row[0])

    def _connection(self) -> psycopg.Connection[Any]:
        import psycopg

        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(self._url, autocommit=True, options=_OPTIONS)
            except psycopg.OperationalError as exc:
                raise EventStoreError(f"cannot connect to Message DB: {exc}") from exc
        return self._conn

    def _all(self, sql: str, params: list[Any], stream: str) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            return self._connection().execute(sql, params).fetchall()
        except psycopg.errors.RaiseException as exc:
            raise _store_error(exc, stream) from None

    def _one(self, sql: str, params: list[Any], stream: str) -> tuple[Any, ...] | None:
        rows = self._all(sql, params, stream)
        return rows[0] if rows else None
