"""A small HTTP/1.1 server on asyncio protocols: keep-alive, pipelining, size limits.

No thread and no long-lived coroutine per connection: bytes are parsed as they arrive,
and a task exists only while a request is being answered (a blocking query waits in it).
A handler's exception is answered 500 and logged, never taking the server down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

from leapfrog.catalog._httpparse import HttpError, Request, RequestParser

__all__ = ["Handler", "HttpServer", "Response"]

log = logging.getLogger("leapfrog.catalog")

IDLE_TIMEOUT = 300.0
"""Seconds a keep-alive connection may sit idle between requests."""
PARTIAL_TIMEOUT = 30.0
"""Seconds a started request may take to arrive in full (also: lingering after an error)."""
LINGER_BYTES = 16 * 1024 * 1024
"""After an error response: how much of the rest of the request to read and drop."""
SWEEP_PERIOD = 5.0
MAX_PIPELINED = 64
"""Parsed requests waiting on one connection before reading pauses."""

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
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
        # "replace": an error text may quote any input, and must never fail to encode.
        return cls(status, text.encode("utf-8", "replace"), "text/plain; charset=utf-8")

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
        self.handler = handler
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port, backlog=1024)
        self._sweeper = asyncio.create_task(self._sweep())

    async def _sweep(self) -> None:
        """Close idle keep-alive connections and requests that never finish arriving.

        One pass every few seconds instead of a timer per read keeps reads cheap."""
        while True:
            await asyncio.sleep(SWEEP_PERIOD)
            now = time.monotonic()
            for connection in list(self.connections):
                connection.close_if_idle(now)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        tasks = [c.task for c in self.connections if c.task is not None]
        for connection in list(self.connections):
            connection.transport.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=5)


class _Connection(asyncio.Protocol):
    """One client connection: requests are parsed as bytes arrive and answered in order
    by one task, which exists only while a request is in flight."""

    transport: asyncio.Transport

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._parser = RequestParser()
        self._pending: deque[Request | HttpError] = deque()
        self.task: asyncio.Task[None] | None = None
        self._last_active = time.monotonic()
        self._eof = False
        self._lingering = -1
        """Bytes dropped after an error response; -1 while not lingering."""
        self._writable: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._current: Request | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, whichever loop made it (uvloop's are not asyncio subclasses).
        self.transport = cast(asyncio.Transport, transport)
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        if self.task is not None:
            self.task.cancel()  # a blocking query of a client that left stops waiting
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._last_active = time.monotonic()
        if self._lingering >= 0:
            self._lingering += len(data)
            if self._lingering > LINGER_BYTES:
                self.transport.abort()
            return
        self._pending.extend(self._parser.feed(data))
        if len(self._pending) > MAX_PIPELINED and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        if self.task is None and self._pending:
            self.task = asyncio.get_running_loop().create_task(self._process())

    def eof_received(self) -> bool:
        self._eof = True
        if self.task is None:
            self.transport.close()
        elif self._current is not None and self._current.params.get("index", "0") not in ("", "0"):
            # Like Go's server (and so Consul): a client gone during a blocking query ends it.
            self.task.cancel()
            self.transport.close()
        return True  # otherwise answer what was asked before the client's half-close

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    def close_if_idle(self, now: float) -> None:
        if self.task is not None:
            return
        limit = PARTIAL_TIMEOUT if self._parser.partial or self._lingering >= 0 else IDLE_TIMEOUT
        if now - self._last_active > limit:
            self.transport.close()

    async def _process(self) -> None:
        try:
            while self._pending and not self.transport.is_closing():
                item = self._pending.popleft()
                if isinstance(item, HttpError):
                    self._fail(item)
                    return
                self._current = item
                response = await _answer(self._server.handler, item)
                self._current = None
                if self.transport.is_closing():
                    return
                self.transport.write(response.encode(close=not item.keep_alive))
                if not item.keep_alive:
                    self.transport.close()
                    return
                if self._writable is not None:
                    await self._writable
            if self._eof:
                self.transport.close()
            elif self._reading_paused:
                self._reading_paused = False
                self.transport.resume_reading()
        except Exception:  # a bug must cost one connection, not the server
            log.exception("HTTP connection failed")
            self.transport.abort()
        finally:
            self.task = None

    def _fail(self, error: HttpError) -> None:
        """Answer a malformed request and close gently: a client still sending would
        otherwise get a reset (unread data makes the kernel send RST), not the answer."""
        self.transport.write(Response.text(error.status, error.text).encode(close=True))
        self._pending.clear()
        if self._eof or not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self._lingering = 0
        self._last_active = time.monotonic()


async def _answer(handler: Handler, request: Request) -> Response:
    try:
        response = await handler(request)
    except Exception:
        log.exception("handler failed for %s %s", request.method, request.path)
        return Response.text(500, "Internal error")
    if request.method == "HEAD":
        response = Response(response.status, b"", response.content_type, response.headers)
    return response
