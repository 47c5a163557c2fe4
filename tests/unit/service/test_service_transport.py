"""The SDK's plain-HTTP transport against a real HTTP server on loopback: the three ways
an answer can end (a length, chunks, the connection's close), a request body and its
headers as sent, and httpx's errors for what goes wrong."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from leapfrog.service._consul import ConsulAgent
from leapfrog.service._transport import PlainTransport

Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[str]:
    """An HTTP server on loopback whose every request (head and body) goes to `handler`."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length) if length else b""
        await handler(head + body, writer)
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    finally:
        srv.close()


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_length_delimited_answer_and_the_request_as_sent() -> None:
    seen: list[bytes] = []

    async def handler(request: bytes, writer: asyncio.StreamWriter) -> None:
        seen.append(request)
        body = json.dumps({"ok": True}).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Consul-Index: 7\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )

    async def body() -> httpx.Response:
        async with (
            serving(handler) as url,
            httpx.AsyncClient(base_url=url, transport=PlainTransport()) as client,
        ):
            return await client.put("/v1/x?a=1", json={"ID": "web-1"}, headers={"X-T": "s"})

    response = asyncio.run(body())
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert response.headers["X-Consul-Index"] == "7"
    head, _, sent = seen[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "PUT /v1/x?a=1 HTTP/1.1"
    assert {"x-t: s", "connection: close"} <= {line.lower() for line in lines}
    assert json.loads(sent) == {"ID": "web-1"}


def test_chunked_and_close_delimited_answers() -> None:
    async def chunked(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        )

    async def until_close(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 404 Not Found\r\n\r\nno such thing")

    async def get(handler: Handler) -> tuple[int, str]:
        async with (
            serving(handler) as url,
            httpx.AsyncClient(base_url=url, transport=PlainTransport()) as client,
        ):
            response = await client.get("/")
        return response.status_code, response.text

    assert asyncio.run(get(chunked)) == (200, "abcde")
    assert asyncio.run(get(until_close)) == (404, "no such thing")


def test_a_cut_answer_a_silent_server_and_a_refused_connection() -> None:
    async def cut(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")

    async def silent(request: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3)

    async def body() -> None:
        transport = PlainTransport()
        async with serving(cut) as url, httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get(url)
        async with (
            serving(silent) as url,
            httpx.AsyncClient(transport=transport, timeout=0.2) as client,
        ):
            with pytest.raises(httpx.ReadTimeout):
                await client.get(url)
        async with httpx.AsyncClient(transport=transport, timeout=1) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{_unused_port()}/")

    asyncio.run(body())


def test_https_is_refused_and_the_agent_uses_it_only_for_http() -> None:
    async def body() -> None:
        with pytest.raises(httpx.UnsupportedProtocol):
            async with httpx.AsyncClient(transport=PlainTransport()) as client:
                await client.get("https://127.0.0.1:1/")
        plain = ConsulAgent("http://127.0.0.1:8500")
        tls = ConsulAgent("https://127.0.0.1:8501")
        try:
            assert isinstance(plain._http._transport, PlainTransport)
            assert not isinstance(tls._http._transport, PlainTransport)
        finally:
            await plain.close()
            await tls.close()

    asyncio.run(body())
