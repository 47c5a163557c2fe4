"""The asyncio HTTP server in process, over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from catalog_fakes import make_api, make_store

from leapfrog.catalog._httpserver import HttpServer, Limits
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


async def _once(port: int, head: bytes, body: bytes = b"x") -> bytes:
    """One request on its own connection (closed after it); the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + b"Connection: close\r\n\r\n" + (body if b"PUT" in head else b""))
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


def test_a_woken_blocking_query_is_answered_without_a_waiting_task() -> None:
    """While a blocking read waits, no task (no coroutine chain) exists for it; the change
    writes its answer from the hub's callback, and requests pipelined behind it follow."""

    async def scenario() -> None:
        server, store = await _serve()
        hub = store.hub
        await _once(server.port, b"PUT /v1/kv/k HTTP/1.1\r\nContent-Length: 1\r\n")
        head = await _once(server.port, b"GET /v1/kv/k HTTP/1.1\r\n")
        index = int(head.split(b"X-Consul-Index: ")[1].split(b"\r\n")[0])
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"GET /v1/kv/k?index=%d&wait=5m HTTP/1.1\r\n\r\n"
            b"HEAD /v1/kv/k?index=%d&wait=5m HTTP/1.1\r\n\r\n"
            b"GET /v1/status/leader HTTP/1.1\r\nConnection: close\r\n\r\n" % (index, index)
        )
        await writer.drain()
        for _ in range(100):
            if hub.watcher_count() == 1:
                break
            await asyncio.sleep(0.01)
        assert hub.watcher_count() == 1
        (connection,) = server.connections
        assert connection.task is None
        await _once(server.port, b"PUT /v1/kv/k HTTP/1.1\r\nContent-Length: 1\r\n", b"y")
        answer = await asyncio.wait_for(reader.read(), 5)
        # The GET woke with the new value; the HEAD behind it read a higher index at once.
        assert answer.count(b"HTTP/1.1 200 OK") == 3
        assert b'"Value":"eQ=="' in answer
        assert answer.index(b"eQ==") < answer.index(b"8300")
        assert hub.watcher_count() == 0
        writer.close()
        await server.close()

    asyncio.run(scenario())


async def _serve_with(limits: Limits) -> tuple[HttpServer, Store]:
    store = make_store()
    server = HttpServer(make_api(store).handle, limits)
    await server.start("127.0.0.1", 0)
    return server, store


@pytest.mark.timeout(30)
def test_slowloris_a_trickled_request_is_closed_at_its_deadline() -> None:
    """One byte at a time never finishes the head: the deadline counts from its first
    byte, so the trickle does not extend it (an idle timer reset per byte would)."""

    async def scenario() -> None:
        limits = Limits(request_timeout=0.5, sweep_period=0.05)
        server, _ = await _serve_with(limits)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /v1/status/leader HTTP/1.1\r\n")
        answer = b""
        while not reader.at_eof():
            writer.write(b"X")
            try:
                answer += await asyncio.wait_for(reader.read(1024), 0.05)
            except TimeoutError:
                continue
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout")
        writer.close()
        await server.close()

    asyncio.run(scenario())


@pytest.mark.timeout(30)
def test_bytes_that_start_no_request_do_not_keep_a_connection_open() -> None:
    async def scenario() -> None:
        server, _ = await _serve_with(Limits(idle_timeout=0.5, sweep_period=0.05))
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        while not reader.at_eof():
            writer.write(b"\r\n")  # blank lines between requests are allowed, but no request
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(1024), 0.05)
        writer.close()
        await server.close()

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_pipelined_bodies_behind_a_blocking_query_are_bounded() -> None:
    async def scenario() -> None:
        limits = Limits(pipeline_bytes=1024 * 1024)
        server, store = await _serve_with(limits)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /v1/kv/k?index=%d&wait=5m HTTP/1.1\r\n\r\n" % store.log.index)
        body = b"x" * (256 * 1024)
        put = b"PUT /v1/kv/p HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        for _ in range(40):  # 10 MiB queued behind the blocking query
            writer.write(put)
        (connection,) = server.connections
        held = 0
        for _ in range(200):
            await asyncio.sleep(0.02)
            held = max(held, connection._pending_bytes + connection._parser.buffered)
            if connection._reading_paused:
                break
        assert connection._reading_paused
        assert held <= limits.pipeline_bytes + 2 * len(put)
        store.kv.put("k", b"v", 0, None)  # wakes the blocking query: the rest flows
        answers = b""
        while answers.count(b"HTTP/1.1 200 OK") < 41:
            answers += await asyncio.wait_for(reader.read(65536), 10)
        writer.close()
        await server.close()

    asyncio.run(scenario())


@pytest.mark.timeout(30)
def test_connections_beyond_the_limit_get_503() -> None:
    async def scenario() -> None:
        server, _ = await _serve_with(Limits(max_connections=3))
        kept = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(3)]
        for _ in range(100):
            if len(server.connections) == 3:
                break
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        answer = await asyncio.wait_for(reader.read(), 10)
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable")
        writer.close()
        kept[0][1].close()
        for _ in range(100):
            if len(server.connections) < 3:
                break
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /v1/status/leader HTTP/1.1\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(1024), 10)).startswith(b"HTTP/1.1 200")
        for _, other in [*kept[1:], (reader, writer)]:
            other.close()
        await server.close()

    asyncio.run(scenario())
