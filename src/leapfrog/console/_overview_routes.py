"""Overview: every unit and instance with state, health, address, restarts, CPU and
memory, live (Server-Sent Events: the rows again after every change the supervisor
reports), and recent platform events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from leapfrog.console._web import TEMPLATES, console, page

__all__ = ["overview_routes"]


def _rows_html(request: Request) -> str:
    watch = console(request).watch
    template = TEMPLATES.get_template("_overview_rows.html")
    return template.render(rows=watch.rows, error=watch.error, events=list(watch.events)[:15])


async def overview(request: Request) -> Response:
    return page(request, "overview.html", rows_html=_rows_html(request))


async def stream(request: Request) -> Response:
    app = console(request)
    watch = app.watch

    async def events() -> AsyncIterator[str]:
        app.streams += 1
        try:
            async for chunk in _follow():
                yield chunk
        finally:
            app.streams -= 1

    async def _follow() -> AsyncIterator[str]:
        seen = -1
        while not await request.is_disconnected():
            if watch.version != seen:
                seen = watch.version
                body = "\n".join(f"data: {line}" for line in _rows_html(request).splitlines())
                yield f"{body}\n\n"
            try:
                seen_now = await watch.changed(seen, 5.0)
            except asyncio.CancelledError:
                return
            if seen_now == seen:
                yield ": keep-alive\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )


def overview_routes() -> list[Route]:
    return [Route("/", overview), Route("/overview/stream", stream)]
