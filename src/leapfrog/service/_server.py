"""uvicorn, with leapfrog's shutdown: a stop signal starts the drain sequence instead of
closing the listener at once, and the process then exits 0 rather than re-raising it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Generator
from types import FrameType

import uvicorn

__all__ = ["DrainingServer"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class DrainingServer(uvicorn.Server):
    """`on_stop` is called (in the event loop) on the first SIGTERM/SIGINT; it decides when
    to set `should_exit`. A second SIGINT forces the exit, as uvicorn's does."""

    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_stop = on_stop
        self._stop_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._stop_requested:
            if sig == signal.SIGINT:
                self.force_exit = True
            return
        self._stop_requested = True
        if self._loop is None:
            self.should_exit = True
            return
        self._loop.call_soon_threadsafe(self._on_stop)

    def request_stop(self) -> None:
        """Start the same sequence as a stop signal (for tests and embedding)."""
        self.handle_exit(signal.SIGTERM, None)
