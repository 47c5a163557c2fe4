"""Backups (the engine's run history with each backup's latest verification) and
Streams (Flink's jobs, when the stack runs Flink)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leapfrog.console._backups import backup_runs
from leapfrog.console._errors import UserError
from leapfrog.console._flink import flink_jobs
from leapfrog.console._web import console, page

__all__ = ["backups_routes"]


async def backups(request: Request) -> Response:
    state = console(request).settings.state_dir
    return page(request, "backups.html", rows=backup_runs(state), in_stack=state is not None)


async def streams(request: Request) -> Response:
    app = console(request)
    url = app.flink_url()
    if url is None:
        return page(request, "streams.html", jobs=None, url=None)
    try:
        jobs = await flink_jobs(url, app.http)
    except UserError as exc:
        return page(request, "streams.html", error=exc, jobs=[], url=url)
    return page(request, "streams.html", jobs=jobs, url=url)


def backups_routes() -> list[Route]:
    return [Route("/backups", backups), Route("/streams", streams)]
