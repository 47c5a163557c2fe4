"""An httpx transport for the SDK's calls to a plain-HTTP catalog: one asyncio connection
per request, the answer parsed by httptools (the parser uvicorn already loaded).

httpx's default transport is httpcore on anyio: importing them and making the first
request cost an instance about 50 ms of CPU, between serving and being registered, on the
way of every new instance to the load balancer (four starting at once on two cores wait
for each other's). The catalog is on the same host or network, so a connection per call
costs next to nothing; a blocking query holds its own for its wait.
"""

from __future__ import annotations

import asyncio
import contextlib

import httptools
import httpx

__all__ = ["PlainTransport"]

_READ = 65536


class _Answer:
    """httptools' callbacks, collecting one response."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False
        self.headers_done = False

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def ends_at_close(self) -> bool:
        """An answer with neither a length nor chunks ends when the connection does."""
        names = {name.lower() for name, _ in self.headers}
        return self.headers_done and not names & {b"content-length", b"transfer-encoding"}

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


def _timeout(request: httpx.Request) -> float | None:
    """The longest of the request's timeouts (httpx's connect, read, write, pool): the
    bound of the whole exchange."""
    given = request.extensions.get("timeout") or {}
    values = [v for v in given.values() if v is not None]
    return max(values) if values else None


class PlainTransport(httpx.AsyncBaseTransport):
    """`http://` only; anything else is refused (use httpx's own transport for TLS)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"PlainTransport is for http://, not {url}")
        body = await request.aread()
        target = url.raw_path.decode("ascii")
        lines = [f"{request.method} {target} HTTP/1.1"]
        for name, value in request.headers.multi_items():
            if name.lower() != "connection":
                lines.append(f"{name}: {value}")
        lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            async with asyncio.timeout(_timeout(request)):
                return await self._exchange(request, url, head + body)
        except TimeoutError:
            where = f"{url.host}:{url.port}"
            raise httpx.ReadTimeout(f"no answer from {where}", request=request) from None
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from None

    async def _exchange(
        self, request: httpx.Request, url: httpx.URL, data: bytes
    ) -> httpx.Response:
        try:
            reader, writer = await asyncio.open_connection(url.host, url.port or 80)
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from None
        try:
            writer.write(data)
            await writer.drain()
            answer = _Answer()
            parser = httptools.HttpResponseParser(answer)
            while not answer.complete:
                chunk = await reader.read(_READ)
                try:
                    if chunk:
                        parser.feed_data(chunk)
                except httptools.HttpParserError as exc:
                    raise httpx.RemoteProtocolError(str(exc), request=request) from None
                if not chunk:
                    if not answer.ends_at_close():
                        raise httpx.RemoteProtocolError(
                            "the connection closed mid-answer", request=request
                        )
                    break
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return httpx.Response(
            parser.get_status_code(),
            headers=answer.headers,
            content=b"".join(answer.body),
            request=request,
        )
