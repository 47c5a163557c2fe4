"""CPU time per request of the whole server-side path (uvicorn's httptools protocol, the
ASGI app, and for the SDK its middleware), in this process, without sockets: requests
are fed to protocol objects on fake transports and run on uvloop. No network and no
other process is involved, so on a shared machine this is much steadier than requests/s;
it shows what the SDK adds to a request, not what the kernel costs.

    .venv/bin/python bench/_sdk_inprocess.py bare|sdk   # prints microseconds per request
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

sys.path.insert(0, str(Path(__file__).parent / "apps"))
from sdk_hello import app

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
CONNECTIONS, BATCHES, REPEATS = 32, 300, 9


class _Transport(asyncio.Transport):
    """What the protocol needs of a transport; the answers go nowhere."""

    def __init__(self) -> None:
        super().__init__()
        self._closing = False

    def write(self, data: Any) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def config(mode: str) -> uvicorn.Config:
    """The configuration each side of bench/sdk.py serves with (apps/sdk_hello.py)."""
    if mode == "bare":
        cfg = uvicorn.Config(
            app,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="warning",
            server_header=False,
        )
        cfg.configure_logging()
        return cfg
    from leapfrog.service import Service

    service = Service(app, "bench", host="127.0.0.1", port=8000, register=False)
    service.telemetry.configure_logging()
    return service.server_config()


async def per_request(cfg: uvicorn.Config) -> float:
    """Best of REPEATS: process CPU seconds per request, 32 connections at a time."""
    cfg.load()
    loop = asyncio.get_running_loop()
    state = ServerState()
    waiting: dict[str, Any] = {"left": 0, "done": None}

    class Protocol(HttpToolsProtocol):
        def on_response_complete(self) -> None:
            super().on_response_complete()
            waiting["left"] -= 1
            if waiting["left"] == 0:
                waiting["done"].set_result(None)

    protocols = []
    for _ in range(CONNECTIONS):
        protocol = Protocol(config=cfg, server_state=state, app_state={}, _loop=loop)
        protocol.connection_made(_Transport())
        protocols.append(protocol)

    async def batch() -> None:
        waiting["left"], waiting["done"] = CONNECTIONS, loop.create_future()
        for protocol in protocols:
            protocol.data_received(REQUEST)
        await waiting["done"]

    for _ in range(100):  # warm-up
        await batch()
    best = float("inf")
    for _ in range(REPEATS):
        started = time.process_time()
        for _ in range(BATCHES):
            await batch()
        best = min(best, (time.process_time() - started) / (BATCHES * CONNECTIONS))
    return best


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        print(f"{runner.run(per_request(config(sys.argv[1]))) * 1e6:.3f}")
