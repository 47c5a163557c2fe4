"""Overview: every unit and instance with state, health, address, restarts, CPU and
memory, live (Server-Sent Events: the rows again after every change the supervisor
reports), and recent platform events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from leapfrog.console._errors import UserError
from leapfrog.console._logsearch import LogHit, LogSearch
from leapfrog.console._timerange import parse_range
from leapfrog.console._web import TEMPLATES, console, page

__all__ = ["overview_routes"]


def _rows_html(request: Request) -> str:
    watch = console(request).watch
    template = TEMPLATES.get_template("_overview_rows.html")
    return template.render(rows=watch.rows, error=watch.error, events=list(watch.events)[:15])


async def _platform_events(request: Request) -> tuple[list[LogHit], str]:
    """The supervisor's own events (started, exited, restarting, health) of the last day,
    from OpenSearch; a sentence instead when it cannot be read."""
    app = console(request)
    if not app.settings.opensearch_url:
        return [], "this stack has no OpenSearch, where the supervisor's events are kept"
    search = LogSearch(app.settings.opensearch_url, app.settings.logs_index, app.http)
    try:
        found = await search.search(
            "", {"logger": "leapfrog.supervisor"}, parse_range("now-24h", "now"), size=15
        )
    except UserError as exc:
        return [], exc.message
    return found.hits, ""


async def overview(request: Request) -> Response:
    events, problem = await _platform_events(request)
    return page(
        request,
        "overview.html",
        rows_html=_rows_html(request),
        platform_events=events,
        events_problem=problem,
    )


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
