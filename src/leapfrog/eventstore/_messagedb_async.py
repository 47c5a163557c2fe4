"""The event store on Message DB for asyncio code: the same operations, awaited."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from leapfrog.eventstore import _messagedb_sql as sql
from leapfrog.eventstore._model import EventStoreError, Message

if TYPE_CHECKING:
    import psycopg

__all__ = ["AsyncMessageDbStore"]


class AsyncMessageDbStore:
    """MessageDbStore's async twin; `async with` closes its connection."""

    def __init__(self, url: str | None = None) -> None:
        self._url = sql.message_db_url(url)
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def __aenter__(self) -> AsyncMessageDbStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def write(
        self,
        stream: str,
        type: str,
        data: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> int:
        params = sql.write_params(stream, type, data, metadata, expected_version)
        (row,) = await self._rows(sql.WRITE, params, stream)
        return int(row[0])

    async def read_stream(
        self, stream: str, position: int = 0, batch_size: int = 1000
    ) -> list[Message]:
        rows = await self._rows(sql.READ_STREAM, [stream, position, batch_size], stream)
        return [sql.to_message(row) for row in rows]

    async def read_category(
        self, category: str, position: int = 0, batch_size: int = 1000
    ) -> list[Message]:
        rows = await self._rows(sql.READ_CATEGORY, [category, position, batch_size], category)
        return [sql.to_message(row) for row in rows]

    async def last_message(self, stream: str) -> Message | None:
        rows = await self._rows(sql.LAST_MESSAGE, [stream], stream)
        return sql.to_message(rows[0]) if rows else None

    async def stream_version(self, stream: str) -> int | None:
        (row,) = await self._rows(sql.STREAM_VERSION, [stream], stream)
        return None if row[0] is None else int(row[0])

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        import psycopg

        if self._conn is None or self._conn.closed:
            try:
                self._conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, options=sql.CONNECT_OPTIONS
                )
            except psycopg.OperationalError as exc:
                raise EventStoreError(f"cannot connect to Message DB: {exc}") from exc
        return self._conn

    async def _rows(self, query: str, params: list[Any], stream: str) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            cursor = await (await self._connection()).execute(query, params)
            return await cursor.fetchall()
        except psycopg.errors.RaiseException as exc:
            raise sql.store_error(exc, stream) from None
