"""The event store on Message DB (PostgreSQL), through psycopg 3, synchronously."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from leapfrog.eventstore import _messagedb_sql as sql
from leapfrog.eventstore._model import EventStoreError, Message

if TYPE_CHECKING:
    import psycopg

__all__ = ["MessageDbStore"]


class MessageDbStore:
    """An EventStore on Message DB, at `url` or $MESSAGE_DB_URL. Connects on first use;
    close() or a `with` block closes the connection."""

    def __init__(self, url: str | None = None) -> None:
        self._url = sql.message_db_url(url)
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
        params = sql.write_params(stream, type, data, metadata, expected_version)
        (row,) = self._rows(sql.WRITE, params, stream)
        return int(row[0])

    def read_stream(self, stream: str, position: int = 0, batch_size: int = 1000) -> list[Message]:
        rows = self._rows(sql.READ_STREAM, [stream, position, batch_size], stream)
        return [sql.to_message(row) for row in rows]

    def read_category(
        self, category: str, position: int = 0, batch_size: int = 1000
    ) -> list[Message]:
        rows = self._rows(sql.READ_CATEGORY, [category, position, batch_size], category)
        return [sql.to_message(row) for row in rows]

    def last_message(self, stream: str) -> Message | None:
        rows = self._rows(sql.LAST_MESSAGE, [stream], stream)
        return sql.to_message(rows[0]) if rows else None

    def stream_version(self, stream: str) -> int | None:
        (row,) = self._rows(sql.STREAM_VERSION, [stream], stream)
        return None if row[0] is None else int(row[0])

    def _connection(self) -> psycopg.Connection[Any]:
        import psycopg

        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(
                    self._url, autocommit=True, options=sql.CONNECT_OPTIONS
                )
            except psycopg.OperationalError as exc:
                raise EventStoreError(f"cannot connect to Message DB: {exc}") from exc
        return self._conn

    def _rows(self, query: str, params: list[Any], stream: str) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            return self._connection().execute(query, params).fetchall()
        except psycopg.errors.RaiseException as exc:
            raise sql.store_error(exc, stream) from None
