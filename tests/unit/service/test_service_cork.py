"""One write per response: what the protocol writes in one loop turn goes out as one
write on the real transport; a later turn's writes go out on their own (streaming)."""

from __future__ import annotations

import asyncio
from typing import Any

from leapfrog.service._cork import CorkedTransport


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


def test_writes_of_one_turn_are_one_write_and_later_turns_their_own() -> None:
    async def run() -> list[bytes]:
        real = _Recorder()
        corked = CorkedTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        corked.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        corked.write(b"ok")
        assert real.writes == []  # held until the turn ends
        await asyncio.sleep(0)
        corked.write(b"chunk 1")  # a streamed response: each turn's chunk goes out
        await asyncio.sleep(0)
        corked.write(b"chunk 2")
        await asyncio.sleep(0)
        return real.writes

    assert asyncio.run(run()) == [
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        b"chunk 1",
        b"chunk 2",
    ]


def test_close_sends_what_is_held_first_and_a_closed_transport_gets_nothing() -> None:
    async def run() -> _Recorder:
        real = _Recorder()
        corked = CorkedTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        corked.write(b"bye")
        corked.close()
        corked.write(b"late")
        await asyncio.sleep(0)
        assert corked.get_extra_info("peername") == ("127.0.0.1", 1)
        return real

    real = asyncio.run(run())
    assert real.writes == [b"bye"] and real.closed
