"""Metrics (Grafana's dashboards): a page per dashboard definition with its panels drawn
by uPlot from `/metrics/panel` (JSON), a time range and a service to pick, and an ad-hoc
InfluxQL page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from leapfrog.components.dashboards import DASHBOARDS, dashboard
from leapfrog.console._errors import UserError
from leapfrog.console._influx import Chart, InfluxClient, expand
from leapfrog.console._timerange import PRESETS, parse_range
from leapfrog.console._web import catalog, console, page

__all__ = ["metrics_routes"]

_SERVICES_MEASURED = "leapfrog_instance_rss_bytes"
"""The figure every measured service has (Grafana's `$service` variable lists the same)."""


def _influx(request: Request) -> InfluxClient:
    app = console(request)
    return InfluxClient(app.settings.influxdb_url, app.settings.metrics_database, app.http)


async def metrics(request: Request) -> Response:
    params = request.query_params
    board = dashboard(params.get("dashboard", "platform"))
    error: UserError | None = None
    services: list[str] = []
    chosen = params.get("service", "")
    if board is None:
        error = UserError(f"there is no dashboard {params.get('dashboard')!r}")
        board = dashboard("platform") or DASHBOARDS[0]
    try:
        parse_range(params.get("from"), params.get("to"))
        if board.variable == "service":
            # The catalog's services, the stack's units (a service without the SDK is
            # not in the catalog, yet the supervisor measures it) and every service with
            # figures in InfluxDB (one removed since, or measured elsewhere).
            units = {row.unit for row in console(request).watch.rows}
            measured = await _influx(request).tag_values(_SERVICES_MEASURED, "service")
            services = sorted(units | measured | set(await catalog(request).services()))
            chosen = chosen or (services[0] if services else "")
            if chosen and chosen not in services:
                raise UserError(f"there is no service named {chosen!r}", "pick one from the list")
    except UserError as exc:
        error = error or exc
    return page(
        request,
        "metrics.html",
        error=error,
        board=board,
        boards=DASHBOARDS,
        services=services,
        service=chosen,
        from_=params.get("from", "now-1h"),
        to=params.get("to", "now"),
        presets=PRESETS,
    )


async def panel(request: Request) -> Response:
    params = request.query_params
    board = dashboard(params.get("dashboard", ""))
    try:
        if board is None:
            raise UserError("no such dashboard")
        index = int(params.get("panel", "-1"))
        if not 0 <= index < len(board.panels):
            raise UserError("no such panel")
        span = parse_range(params.get("from"), params.get("to"))
        chosen = board.panels[index]
        variables = {"service": params.get("service", "")}
        query = expand(chosen.query, span, variables, chosen.min_interval)
        chart = await _influx(request).chart(query)
        chart = chart.spanning(span.start.timestamp(), span.end.timestamp())
    except (UserError, ValueError) as exc:
        text = exc.message if isinstance(exc, UserError) else "no such panel"
        return JSONResponse({"error": text})
    return JSONResponse(chart.as_json() | {"unit": board.panels[index].unit})


async def query(request: Request) -> Response:
    text = request.query_params.get("q", "")
    error: UserError | None = None
    chart: Chart | None = None
    table: list[dict[str, object]] = []
    if text.strip():
        try:
            client = _influx(request)
            table = await client.raw(text)
            chart = await client.chart(text)
        except UserError as exc:
            error = exc
    return page(
        request,
        "query.html",
        error=error,
        q=text,
        table=table[:20],
        chart=chart.as_json() if chart and chart.points else None,
    )


def metrics_routes() -> list[Route]:
    return [
        Route("/metrics", metrics),
        Route("/metrics/panel", panel),
        Route("/metrics/query", query),
    ]
