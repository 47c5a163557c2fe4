"""Logs (Kibana's Discover): free text and filters over a time range, a histogram of
matches, one document, and live tail (the results refreshed every 2 s)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leapfrog.console._errors import UserError
from leapfrog.console._logsearch import FILTERS, LogSearch, SearchResult
from leapfrog.console._timerange import PRESETS, parse_range
from leapfrog.console._web import console, page

__all__ = ["logs_routes"]


def _search(request: Request) -> LogSearch:
    app = console(request)
    return LogSearch(app.settings.opensearch_url, app.settings.logs_index, app.http)


async def _run(request: Request) -> tuple[dict[str, Any], UserError | None]:
    params = request.query_params
    text = params.get("q", "")
    filters = {name: params.get(name, "").strip() for name in FILTERS}
    context: dict[str, Any] = {
        "q": text,
        "filters": filters,
        "filter_names": FILTERS,
        "from_": params.get("from", "now-1h"),
        "to": params.get("to", "now"),
        "presets": PRESETS,
        "tail": params.get("tail") == "1",
        "result": None,
        "histogram": "",
    }
    try:
        span = parse_range(params.get("from"), params.get("to"))
        result: SearchResult = await _search(request).search(text, filters, span)
    except UserError as exc:
        return context, exc
    context["result"] = result
    context["histogram"] = json.dumps(
        {
            "times": [t / 1000 for t, _ in result.buckets],
            "series": [{"label": "matches", "values": [n for _, n in result.buckets]}],
        }
    )
    return context, None


async def logs(request: Request) -> Response:
    context, error = await _run(request)
    return page(request, "logs.html", error=error, **context)


async def results(request: Request) -> Response:
    context, error = await _run(request)
    answer = page(request, "_log_results.html", error=error, **context)
    if request.headers.get("hx-trigger") == "log-search":
        # The search box's own search (not the live tail's refresh): the address bar
        # gets the page's URL with the search in it, so it reloads and shares as is.
        answer.headers["HX-Push-Url"] = f"/logs?{request.query_params}"
    return answer


async def document(request: Request) -> Response:
    try:
        hit = await _search(request).document(
            request.query_params.get("index", ""), request.query_params.get("id", "")
        )
    except UserError as exc:
        return page(request, "log_doc.html", error=exc, hit=None, pretty="")
    pretty = json.dumps(hit.source, indent=2, ensure_ascii=False, sort_keys=True)
    return page(request, "log_doc.html", hit=hit, pretty=pretty)


def logs_routes() -> list[Route]:
    return [
        Route("/logs", logs),
        Route("/logs/results", results),
        Route("/logs/doc", document),
    ]
