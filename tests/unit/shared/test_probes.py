"""The HTTP probe asked to speak TLS (identity on) to a program that answers no TLS."""

from __future__ import annotations

import asyncio

from leapfrog.shared.probes import http_probe


async def _plain_server() -> tuple[asyncio.Server, int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.read(1024)
        if first.startswith(b"GET "):
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        else:  # a TLS ClientHello: what a plain HTTP server says to it
            writer.write(b"HTTP/1.0 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_tls_probe_of_a_plain_http_program_falls_back_to_http() -> None:
    async def run() -> tuple[bool, str]:
        server, port = await _plain_server()
        async with server:
            return await http_probe("127.0.0.1", port, "/health", 2.0, tls=True)

    assert asyncio.run(run()) == (True, "GET /health: HTTP 200")


def test_tls_probe_of_nothing_listening_fails_plainly() -> None:
    async def run() -> tuple[bool, str]:
        server, port = await _plain_server()
        server.close()
        await server.wait_closed()
        return await http_probe("127.0.0.1", port, "/health", 2.0, tls=True)

    ok, detail = asyncio.run(run())
    assert not ok and detail.startswith("GET /health:")
