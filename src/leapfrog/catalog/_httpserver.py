"""A small HTTP/1.1 server on asyncio protocols: keep-alive, pipelining, limits.

No thread and no long-lived coroutine per connection: bytes are parsed as they arrive,
and a task exists only while a request is being answered. A handler may answer with a
`Deferred` instead of a response (a blocking query): the task ends, and whoever has the
answer later hands it to the connection, which writes it from that callback (no
coroutine is resumed to wake a waiting client).
A handler's exception is answered 500 and logged, never taking the server down.

What one client can hold is bounded (`Limits`): the number of connections, the bytes of
pipelined requests buffered behind the one being answered, and the time a request may
take to arrive (a deadline for its whole head and body, not an idle timer that each
trickled byte would reset).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import cast

from leapfrog.catalog._httpparse import HttpError, Request, RequestParser

__all__ = ["Deferred", "Handler", "HttpServer", "Limits", "Response"]

log = logging.getLogger("leapfrog.catalog")

LINGER_BYTES = 16 * 1024 * 1024
"""After an error response: how much of the rest of the request to read and drop."""


@dataclass(frozen=True)
class Limits:
    idle_timeout: float = 300.0
    """Seconds a keep-alive connection may wait for its next request (from its last
    answer; bytes that start no request do not extend it)."""
    request_timeout: float = 30.0
    """Seconds a request may take to arrive in full, head and body, from its first byte
    (or from when its connection was free to read it); also the lingering after an error."""
    sweep_period: float = 5.0
    """How often deadlines are checked (one pass over the connections)."""
    max_connections: int = 4096
    """Open connections; a connection beyond it is answered 503 and closed."""
    max_pipelined: int = 64
    """Parsed requests waiting behind the one being answered before reading pauses."""
    pipeline_bytes: int = 1024 * 1024
    """Bytes of requests buffered behind the one being answered before reading pauses."""


_REASONS = {
    200: "OK",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
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


class Deferred:
    """An answer that comes later. The connection calls `start(deliver)` once; the
    answer's owner calls `deliver(response)` once, from any loop callback. `cancel()`
    is called instead if the client goes away first."""

    def start(self, deliver: Callable[[Response], None]) -> None:
        raise NotImplementedError

    def cancel(self) -> None:
        raise NotImplementedError


Handler = Callable[[Request], Awaitable[Response | Deferred]]


class HttpServer:
    """The listening socket and its open connections (closed together on `close`)."""

    def __init__(self, handler: Handler, limits: Limits | None = None) -> None:
        self.handler = handler
        self.limits = limits or Limits()
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
            await asyncio.sleep(self.limits.sweep_period)
            now = time.monotonic()
            for connection in list(self.connections):
                connection.close_if_late(now)

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
        self._limits = server.limits
        self._parser = RequestParser()
        self._pending: deque[Request | HttpError] = deque()
        self._pending_bytes = 0
        """Body bytes of the parsed requests in `_pending`."""
        self.task: asyncio.Task[None] | None = None
        self._free_since = time.monotonic()
        """When the connection last had nothing to answer: deadlines count from here."""
        self._eof = False
        self._lingering = -1
        """Bytes dropped after an error response; -1 while not lingering."""
        self._writable: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._current: Request | None = None
        self._deferred: Deferred | None = None
        """The answer being waited for without a task (`_current`'s)."""

    @property
    def _busy(self) -> bool:
        return self.task is not None or self._deferred is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, whichever loop made it (uvloop's are not asyncio subclasses).
        self.transport = cast(asyncio.Transport, transport)
        if len(self._server.connections) >= self._limits.max_connections:
            busy = Response.text(503, "Too many open connections to the catalog; retry later")
            self.transport.write(busy.encode(close=True))
            self.transport.close()
            self._lingering = LINGER_BYTES  # drop whatever the client still sends
            return
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        if self.task is not None:
            self.task.cancel()  # a blocking query of a client that left stops waiting
        self._drop_deferred()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._lingering >= 0:
            self._lingering += len(data)
            if self._lingering > LINGER_BYTES:
                self.transport.abort()
            return
        for item in self._parser.feed(data):
            self._pending.append(item)
            if isinstance(item, Request):
                self._pending_bytes += len(item.body)
        if not self._busy and self._pending:
            self.task = asyncio.get_running_loop().create_task(self._process())
        elif self._busy and self._over_pipeline_limit() and not self._reading_paused:
            # Requests queue behind one being answered (a blocking query may take
            # minutes): stop reading, and TCP makes the client wait, not our memory.
            self._reading_paused = True
            self.transport.pause_reading()

    def _over_pipeline_limit(self) -> bool:
        buffered = self._pending_bytes + self._parser.buffered
        limits = self._limits
        return len(self._pending) > limits.max_pipelined or buffered > limits.pipeline_bytes

    def _resume_if_drained(self) -> None:
        if self._reading_paused and not self._over_pipeline_limit():
            self._reading_paused = False
            self.transport.resume_reading()

    def eof_received(self) -> bool:
        self._eof = True
        if not self._busy:
            self.transport.close()
        elif self._current is not None and _blocking(self._current):
            # Like Go's server (and so Consul): a client gone during a blocking query ends it.
            if self.task is not None:
                self.task.cancel()
            self._drop_deferred()
            self.transport.close()
        return True  # otherwise answer what was asked before the client's half-close

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    def close_if_late(self, now: float) -> None:
        """Close a connection whose request is late or which sat idle too long."""
        if self._busy or self.transport.is_closing():
            return
        limits = self._limits
        if self._lingering >= 0:
            if now - self._free_since > limits.request_timeout:
                self.transport.close()
        elif self._parser.partial:
            started = max(self._parser.started, self._free_since)
            if now - started > limits.request_timeout:
                late = Response.text(
                    408,
                    f"Request Timeout: the request did not arrive in full within "
                    f"{limits.request_timeout:g}s",
                )
                self.transport.write(late.encode(close=True))
                self.transport.close()
        elif now - self._free_since > limits.idle_timeout:
            self.transport.close()

    async def _process(self) -> None:
        try:
            if self._writable is not None:
                await self._writable
            while self._pending and not self.transport.is_closing():
                item = self._pending.popleft()
                if isinstance(item, HttpError):
                    self._fail(item)
                    return
                self._pending_bytes -= len(item.body)
                self._resume_if_drained()
                self._current = item
                response = await _answer(self._server.handler, item)
                if isinstance(response, Deferred):
                    self._deferred = response
                    response.start(partial(self._deliver, response, item))
                    if self._deferred is not None:
                        return  # answered later, by `_deliver`
                    if self.transport.is_closing() or not item.keep_alive:
                        return  # it was answered already (at once)
                    if self._writable is not None:
                        await self._writable
                    continue
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
        except Exception:  # a bug must cost one connection, not the server
            log.exception("HTTP connection failed")
            self.transport.abort()
        finally:
            self.task = None
            self._free_since = time.monotonic()
            if self._deferred is None and self._reading_paused and not self.transport.is_closing():
                # Nothing is being answered: the request being received must be read
                # in full (it is bounded by the parser's own limits).
                self._reading_paused = False
                self.transport.resume_reading()

    def _deliver(self, deferred: Deferred, request: Request, response: Response) -> None:
        """The deferred answer to `request`: write it, then go on with what is queued."""
        if self._deferred is not deferred:
            return  # cancelled (the client left)
        self._deferred = None
        self._current = None
        if self.transport.is_closing():
            return
        try:
            response = _for_method(request, response)
            self.transport.write(response.encode(close=not request.keep_alive))
            if not request.keep_alive:
                self.transport.close()
                return
            self._free_since = time.monotonic()
            if self.task is not None:
                return  # answered at once, inside `_process`, which goes on
            if self._pending:
                self.task = asyncio.get_running_loop().create_task(self._process())
            elif self._eof:
                self.transport.close()
            elif self._reading_paused:
                self._reading_paused = False
                self.transport.resume_reading()
        except Exception:  # a bug must cost one connection, not the server
            log.exception("HTTP connection failed")
            self.transport.abort()

    def _drop_deferred(self) -> None:
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            deferred.cancel()

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
        self._free_since = time.monotonic()


def _blocking(request: Request) -> bool:
    # dict.get: not a lookup the answer depends on (the reply cache records those).
    return dict.get(request.params, "index", "0") not in ("", "0")


async def _answer(handler: Handler, request: Request) -> Response | Deferred:
    try:
        response = await handler(request)
    except Exception:
        log.exception("handler failed for %s %s", request.method, request.path)
        return Response.text(500, "Internal error")
    if isinstance(response, Deferred):
        return response
    return _for_method(request, response)


def _for_method(request: Request, response: Response) -> Response:
    if request.method == "HEAD":
        return Response(response.status, b"", response.content_type, response.headers)
    return response
