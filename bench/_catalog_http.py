"""A lean asyncio HTTP/1.1 client for bench/catalog.py: keep-alive, one protocol object.

It is built on `asyncio.Protocol`, not streams, so that the load generator costs little
per request and so that a response's arrival is stamped in `data_received`, the moment
its last byte is read, not when some coroutine later gets round to it. Only what the
servers under test send is understood: a status line, headers and a Content-Length body.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

__all__ = ["Connection", "HttpClientError", "Reply", "open_connections"]


class HttpClientError(Exception):
    """The server closed the connection or sent something this client cannot read."""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes
    arrived: float
    """time.perf_counter() when the last byte of the response was read."""

    @property
    def index(self) -> int:
        return int(self.headers.get("x-consul-index", "0"))


class Connection(asyncio.Protocol):
    """One keep-alive connection; requests are answered in order (pipelining works too)."""

    def __init__(self, host: str, port: int) -> None:
        self.host_header = f"{host}:{port}".encode()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._head: tuple[int, dict[str, str], int] | None = None
        self._waiting: deque[asyncio.Future[Reply]] = deque()
        self._lost: Exception | None = None

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = HttpClientError(f"connection closed by the server ({exc or 'EOF'})")
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(self._lost)
                future.exception()  # marked as seen: callers that await it still get it

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self._buffer += data
        while self._take_one(now):
            pass

    def _take_one(self, now: float) -> bool:
        if self._head is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            self._head = _parse_head(bytes(self._buffer[:end]))
            del self._buffer[: end + 4]
        status, headers, length = self._head
        if len(self._buffer) < length:
            return False
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        self._head = None
        if self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_result(Reply(status, headers, body, now))
        return True

    # -- requests --------------------------------------------------------------------

    def send(self, method: str, path: str, body: bytes = b"") -> asyncio.Future[Reply]:
        """Write one request; the future resolves with its reply."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        if self._lost is not None or self._transport is None:
            future.set_exception(self._lost or HttpClientError("not connected"))
            return future
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n" % (
            method.encode(),
            path.encode(),
            self.host_header,
            len(body),
        )
        self._transport.write(head + body)
        self._waiting.append(future)
        return future

    async def request(self, method: str, path: str, body: bytes = b"") -> Reply:
        return await self.send(method, path, body)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _parse_head(head: bytes) -> tuple[int, dict[str, str], int]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise HttpClientError(f"bad status line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" not in headers:
        raise HttpClientError("a response without Content-Length (not supported here)")
    return int(parts[1]), headers, int(headers["content-length"])


async def open_connections(
    host: str, port: int, count: int, parallel: int = 64
) -> list[Connection]:
    """`count` connections, at most `parallel` connecting at once (the listen backlog)."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(parallel)

    async def one() -> Connection:
        async with gate:
            _, protocol = await loop.create_connection(lambda: Connection(host, port), host, port)
            return protocol

    results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    connections = [r for r in results if isinstance(r, Connection)]
    failures = [r for r in results if not isinstance(r, Connection)]
    if failures:
        for conn in connections:
            conn.close()
        raise HttpClientError(f"{len(failures)} of {count} connections failed: {failures[0]!r}")
    return connections
