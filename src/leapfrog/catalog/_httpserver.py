"""A small HTTP/1.1 server on asyncio streams: keep-alive, pipelining, size limits.

One coroutine per connection, none per request beyond it; a handler's exception is
answered 500 and logged, never taking the server down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from leapfrog.catalog._httpparse import HttpError, Request, RequestParser

__all__ = ["Handler", "HttpServer", "Response"]

log = logging.getLogger("leapfrog.catalog")

IDLE_TIMEOUT = 300.0
"""Seconds a keep-alive connection may sit idle between requests."""
PARTIAL_TIMEOUT = 30.0
"""Seconds a started request may take to arrive in full."""
LINGER_TIMEOUT = 2.0
LINGER_BYTES = 16 * 1024 * 1024
"""After an error response: how long and how much of the rest of the request to read."""

_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    encoded: bytes | None = None
    """The whole keep-alive response, pre-encoded (shared by many blocking watchers)."""

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode(), "text/plain; charset=utf-8")

    def encode(self, close: bool) -> bytes:
        if self.encoded is not None and not close:
            return self.encoded
        reason = _REASONS.get(self.status, "Unknown")
        lines = [
            f"HTTP/1.1 {self.status} {reason}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
        ]
        lines.extend(f"{k}: {v}" for k, v in self.headers)
        if close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + self.body


Handler = Callable[[Request], Awaitable[Response]]


class HttpServer:
    """The listening socket and its open connections (closed together on `close`)."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(
            self._connection, host, port, limit=256 * 1024, backlog=1024
        )

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await _serve_connection(self._handler, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception:  # a bug must cost one connection, not the server
            log.exception("HTTP connection failed")
        finally:
            self._tasks.discard(task)
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)


async def _serve_connection(
    handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    parser = RequestParser()
    while True:
        async with asyncio.timeout(PARTIAL_TIMEOUT if parser.partial else IDLE_TIMEOUT):
            data = await reader.read(65536)
        if not data:
            return
        for item in parser.feed(data):
            if isinstance(item, HttpError):
                writer.write(Response.text(item.status, item.text).encode(close=True))
                await writer.drain()
                await _linger(reader, writer)
                return
            response = await _answer(handler, item)
            writer.write(response.encode(close=not item.keep_alive))
            await writer.drain()
            if not item.keep_alive:
                return


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Close gently after an error: a client still sending would otherwise get a reset
    (unread data makes the kernel send RST) instead of the error response."""
    if writer.can_write_eof():
        writer.write_eof()
    discarded = 0
    async with asyncio.timeout(LINGER_TIMEOUT):
        while discarded < LINGER_BYTES and (chunk := await reader.read(65536)):
            discarded += len(chunk)


async def _answer(handler: Handler, request: Request) -> Response:
    try:
        response = await handler(request)
    except Exception:
        log.exception("handler failed for %s %s", request.method, request.path)
        return Response.text(500, "Internal error")
    if request.method == "HEAD":
        response = Response(response.status, b"", response.content_type, response.headers)
    return response
