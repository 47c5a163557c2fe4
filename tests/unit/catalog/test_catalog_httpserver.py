"""The asyncio HTTP server in process, over real loopback sockets."""

from __future__ import annotations

import asyncio

from catalog_fakes import make_api, make_store

from leapfrog.catalog._httpserver import HttpServer
from leapfrog.catalog._store import Store


async def _serve() -> tuple[HttpServer, Store]:
    store = make_store()
    server = HttpServer(make_api(store).handle)
    await server.start("127.0.0.1", 0)
    return server, store


def test_pipelined_requests_are_answered_in_order() -> None:
    async def scenario() -> None:
        server, _ = await _serve()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"PUT /v1/kv/a HTTP/1.1\r\nContent-Length: 1\r\n\r\nx"
            b"GET /v1/kv/a?raw HTTP/1.1\r\n\r\n"
            b"GET /v1/status/leader HTTP/1.1\r\nConnection: close\r\n\r\n"
        )
        answer = await asyncio.wait_for(reader.read(), 5)
        assert answer.count(b"HTTP/1.1 200 OK") == 3
        assert answer.index(b"\r\n\r\ntrue") < answer.index(b"\r\n\r\nx") < answer.index(b"8300")
        writer.close()
        await server.close()

    asyncio.run(scenario())


def test_a_half_closed_client_still_gets_its_answer() -> None:
    async def scenario() -> None:
        server, _ = await _serve()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /v1/status/peers HTTP/1.1\r\n\r\n")
        writer.write_eof()
        answer = await asyncio.wait_for(reader.read(), 5)
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b'["127.0.0.1:8300"]')
        writer.close()
        await server.close()

    asyncio.run(scenario())


def test_a_blocking_query_stops_waiting_when_its_client_leaves() -> None:
    async def scenario() -> None:
        server, store = await _serve()
        hub = store.hub
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /v1/kv/k?index=99&wait=5m HTTP/1.1\r\n\r\n")
        await writer.drain()
        for _ in range(100):
            if hub.watcher_count() == 1:
                break
            await asyncio.sleep(0.01)
        assert hub.watcher_count() == 1
        writer.close()
        for _ in range(100):
            if hub.watcher_count() == 0:
                break
            await asyncio.sleep(0.01)
        assert hub.watcher_count() == 0
        await server.close()

    asyncio.run(scenario())
