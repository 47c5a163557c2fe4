"""Health history (`/instances/NAME`): one instance's state changes over a time range and
the time it spent in each state, from the supervisor's events in OpenSearch; its state
now from the supervisor."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leapfrog.console._errors import UserError
from leapfrog.console._history import History, history, spoken
from leapfrog.console._logsearch import LogSearch
from leapfrog.console._timerange import PRESETS, parse_range
from leapfrog.console._web import console, page

__all__ = ["history_routes"]

_EVENTS = 1000
"""The most changes read for one range (a crash loop writes a few a minute)."""


async def instance_history(request: Request) -> Response:
    name = request.path_params["name"]
    params = request.query_params
    app = console(request)
    now = next((row for row in app.watch.rows if row.name == name), None)
    found = History([], [])
    error: UserError | None = None
    try:
        span = parse_range(params.get("from"), params.get("to"), default="now-24h")
        if not app.settings.opensearch_url:
            raise UserError(
                "this stack has no OpenSearch, where the supervisor's events are kept",
                "add the `opensearch` and `logs-pipeline` components",
            )
        search = LogSearch(app.settings.opensearch_url, app.settings.logs_index, app.http)
        result = await search.search(
            "", {"logger": "leapfrog.supervisor", "instance": name}, span, size=_EVENTS
        )
        found = history(result.hits, span.end)
        if now is None and not found.changes:
            raise UserError(
                f"there is no instance named {name!r} in this stack or its recent events",
                "the overview lists every instance",
            )
    except UserError as exc:
        error = exc
    return page(
        request,
        "history.html",
        error=error,
        name=name,
        now=now,
        found=found,
        spoken=spoken,
        from_=params.get("from", "now-24h"),
        to=params.get("to", "now"),
        presets=PRESETS,
    )


def history_routes() -> list[Route]:
    return [Route("/instances/{name}", instance_history)]
