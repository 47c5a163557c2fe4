"""One write per response: uvicorn writes a response's status line and headers, then its
body, as two writes on the transport. Over TLS each write is a record of its own (an
encryption, a read of the outgoing buffer and a send); over plain TCP a send each. The
transport the protocol gets here holds what is written during one turn of the event
loop and writes it as one at the end of the turn, so a response that is ready at once
goes out as one record and one send. A streamed response still goes out chunk by
chunk: nothing waits past the turn it was written in."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["CorkedTransport", "corked_protocol"]


class CorkedTransport:
    """What the protocol writes through: the writes of one loop turn joined into one."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if self._transport.is_closing():
            return
        self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def corked_protocol() -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol writing through a `CorkedTransport`."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class CorkedProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            corked = CorkedTransport(transport, self.loop)
            super().connection_made(corked)  # type: ignore[arg-type]

    return CorkedProtocol
