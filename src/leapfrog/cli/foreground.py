"""`leapfrog up` in the foreground: progress until the stack is up, then every change.

The view runs in a thread (rich's Live blocks) fed from the supervisor's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from rich.console import Console

from leapfrog.cli import views
from leapfrog.runtime.local import Readiness, Supervisor

__all__ = ["foreground_view"]

Report = Callable[[Readiness, dict[str, Any]], None]


def foreground_view(
    console: Console, started: float, report: Report
) -> Callable[[Supervisor], Coroutine[Any, Any, None]]:
    async def view(supervisor: Supervisor) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        closing = False

        async def feed() -> None:
            while not supervisor.stopped.is_set():
                queue.put_nowait(supervisor.snapshot())
                await supervisor.changed()

        def snapshots() -> Iterator[dict[str, Any]]:
            while True:
                item = asyncio.run_coroutine_threadsafe(queue.get(), loop).result()
                if item is None:
                    return
                yield item

        def show() -> None:
            stream = snapshots()
            verdict, snapshot = views.follow_startup(stream, console, started)
            if closing or verdict.verdict == "stopped":
                return
            report(verdict, snapshot)
            seen = {i["name"]: f"{i['state']} {i.get('detail', '')}" for i in snapshot["instances"]}
            for later in stream:
                if later.get("stopping"):
                    return
                views.print_changes(later, seen, console, started)

        feeder = loop.create_task(feed())
        try:
            await asyncio.to_thread(show)
        finally:
            closing = True
            feeder.cancel()
            queue.put_nowait(None)  # ends the thread's iteration, so the loop can close

    return view
