"""UDP and TCP listeners on one port, feeding a `Responder`."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from leapfrog.catalog.dns._forward import Forwarder
from leapfrog.catalog.dns._responder import Responder
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.ports import find_listener

__all__ = ["DnsServer", "listen"]

IDLE_TIMEOUT = 10.0
"""Seconds a TCP connection may wait between queries (and to finish one) before we close it."""
WRITE_TIMEOUT = 10.0
MAX_TCP_CONNECTIONS = 512
_PORT_ATTEMPTS = 50


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, responder: Responder, forwarder: Forwarder | None) -> None:
        self._responder = responder
        self._forwarder = forwarder
        self.forwarding: set[asyncio.Task[None]] = set()
        self._transport: asyncio.DatagramTransport | None = None
        # Set while the socket's send buffer is full: replies are dropped then (clients
        # retry), so a flood cannot grow memory without bound.
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self._forwarder is not None and self._responder.outside(data):
            # Asked upstream as a task of its own: the loop keeps answering meanwhile.
            task = asyncio.ensure_future(self._forward(self._forwarder, data, addr))
            self.forwarding.add(task)
            task.add_done_callback(self.forwarding.discard)
            return
        self._send(self._responder.respond(data, tcp=False), addr)

    async def _forward(self, forwarder: Forwarder, data: bytes, addr: Any) -> None:
        self._send(await forwarder.forward(data, tcp=False), addr)

    def _send(self, reply: bytes | None, addr: Any) -> None:
        transport = self._transport
        if reply is None or transport is None or transport.is_closing() or self._paused:
            return
        transport.sendto(reply, addr)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP unreachable from a client that left: nothing to do, keep serving


class _Tcp:
    def __init__(self, responder: Responder, forwarder: Forwarder | None) -> None:
        self._responder = responder
        self._forwarder = forwarder
        self.connections: set[asyncio.Task[None]] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self.connections) >= MAX_TCP_CONNECTIONS:
            writer.close()
            return
        self.connections.add(task)
        try:
            await self._queries(reader, writer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or stalled: just close
        finally:
            self.connections.discard(task)
            writer.close()

    async def _queries(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            # 2-byte length framing bounds every read to 64 KiB
            async with asyncio.timeout(IDLE_TIMEOUT):
                try:
                    head = await reader.readexactly(2)
                except asyncio.IncompleteReadError:
                    return  # clean close between queries
                data = await reader.readexactly(int.from_bytes(head, "big"))
            # A TCP answer may hold thousands of records: built and encoded on a worker
            # thread from what it reads, read here (the loop keeps serving meanwhile).
            if self._forwarder is not None and self._responder.outside(data):
                reply = await self._forwarder.forward(data, tcp=True)
            elif (frozen := self._responder.freeze(data)) is None:
                reply = self._responder.respond(data, tcp=True)
            else:
                reply = await asyncio.to_thread(
                    self._responder.respond, data, tcp=True, view=frozen
                )
            if reply is None:
                return
            writer.write(len(reply).to_bytes(2, "big") + reply)
            async with asyncio.timeout(WRITE_TIMEOUT):
                await writer.drain()


class DnsServer:
    """A running DNS listener (UDP and TCP on `port`)."""

    def __init__(
        self,
        udp: asyncio.DatagramTransport,
        tcp: asyncio.Server,
        tcp_handler: _Tcp,
        responder: Responder,
        port: int,
        *,
        udp_handler: _Udp,
    ) -> None:
        self._udp = udp
        self._udp_handler = udp_handler
        self._tcp = tcp
        self._tcp_handler = tcp_handler
        self._responder = responder
        self.port = port

    @property
    def failures(self) -> int:
        """Queries answered SERVFAIL because of an internal error (for health and tests)."""
        return self._responder.failures

    async def close(self) -> None:
        self._udp.close()
        self._tcp.close()
        connections = [*self._tcp_handler.connections, *self._udp_handler.forwarding]
        for task in connections:
            task.cancel()
        for task in connections:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._tcp.wait_closed()


def _in_use(host: str, port: int, exc: OSError) -> LeapfrogError:
    holder = find_listener(host, port)
    who = holder.describe() if holder else f"{host}:{port}: {exc.strerror or exc}"
    return LeapfrogError(
        f"the catalog's DNS port is not free: {who}",
        hint="stop that process or choose another DNS port in the stack file",
    )


async def listen(
    responder: Responder, host: str, port: int, forwarder: Forwarder | None = None
) -> DnsServer:
    """Bind UDP and TCP on the same port; port 0 picks one free for both. `forwarder`:
    where names outside the domain are asked (None: they are refused)."""
    loop = asyncio.get_running_loop()
    tcp_handler = _Tcp(responder, forwarder)
    last_error: OSError | None = None
    for _ in range(_PORT_ATTEMPTS if port == 0 else 1):
        try:
            udp, protocol = await loop.create_datagram_endpoint(
                lambda: _Udp(responder, forwarder), local_addr=(host, port)
            )
        except OSError as exc:
            raise _in_use(host, port, exc) from exc
        actual = int(udp.get_extra_info("sockname")[1])
        try:
            tcp = await asyncio.start_server(
                tcp_handler.serve, host, actual, reuse_address=True, limit=2**16
            )
        except OSError as exc:
            udp.close()
            last_error = exc
            continue  # with port 0 the TCP side of that port was taken: try another
        return DnsServer(udp, tcp, tcp_handler, responder, actual, udp_handler=protocol)
    assert last_error is not None
    raise _in_use(host, port, last_error) from last_error
