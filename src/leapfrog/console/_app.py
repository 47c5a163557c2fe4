"""The console's Starlette app: its pages' routes, the login wall and security headers,
gzip, its own static files and the npm front-end libraries it was installed with."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from leapfrog.console._auth_routes import auth_routes
from leapfrog.console._backups_routes import backups_routes
from leapfrog.console._errors import UserError
from leapfrog.console._history_routes import history_routes
from leapfrog.console._kv_routes import kv_routes
from leapfrog.console._logs_routes import logs_routes
from leapfrog.console._metrics_routes import metrics_routes
from leapfrog.console._overview_routes import overview_routes
from leapfrog.console._security import SecurityMiddleware
from leapfrog.console._services_routes import services_routes
from leapfrog.console._settings import ConsoleSettings
from leapfrog.console._web import Console, page
from leapfrog.console._web import console as console_of

__all__ = ["create_app"]

log = logging.getLogger("leapfrog.console")
_STATIC = Path(__file__).parent / "static"


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def failed(request: Request, exc: Exception) -> Response:
    """Whatever a page did not expect: a sentence on the page, the traceback in the log."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    error = UserError("the console failed to build this page", "its log has the details", 500)
    return page(request, "error.html", error=error, status=500)


async def own_metrics(request: Request) -> Response:
    """The console's own figures, Prometheus text (the component's `metrics` reads them)."""
    app = console_of(request)
    lines = [
        f"console_sessions {len(app.sessions)}",
        f"console_live_streams {app.streams}",
        f"console_stack_instances {len(app.watch.rows)}",
        f"console_stack_changes_total {app.watch.version}",
        f"console_supervisor_reachable {0 if app.watch.error else 1}",
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


def _vendor(settings: ConsoleSettings) -> list[BaseRoute]:
    mounts: list[BaseRoute] = []
    for name, folder in (("htmx", settings.htmx_dir), ("uplot", settings.uplot_dir)):
        if folder is None or not (folder / "dist").is_dir():
            log.warning("no %s at %s: pages run without it (`leapfrog install`)", name, folder)
        else:
            mounts.append(Mount(f"/static/vendor/{name}", StaticFiles(directory=folder / "dist")))
    return mounts


def create_app(settings: ConsoleSettings) -> Starlette:
    console = Console(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        console.watch.start()
        try:
            yield
        finally:
            await console.watch.close()
            await console.http.aclose()

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/-/metrics", own_metrics),
        *auth_routes(),
        *overview_routes(),
        *history_routes(),
        *services_routes(),
        *kv_routes(),
        *logs_routes(),
        *metrics_routes(),
        *backups_routes(),
        *_vendor(settings),
        Mount("/static", StaticFiles(directory=_STATIC)),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(GZipMiddleware, minimum_size=500),
            Middleware(SecurityMiddleware, sessions=console.sessions),
        ],
        exception_handlers={Exception: failed},
        lifespan=lifespan,
    )
    app.state.console = console
    return app
