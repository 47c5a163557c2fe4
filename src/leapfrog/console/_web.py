"""What every page shares: the templates, the logged-in session, rendering a page with
an error box instead of a traceback, and the CSRF check every write goes through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from leapfrog.console._catalog import CatalogClient
from leapfrog.console._errors import UserError
from leapfrog.console._sessions import COOKIE, Session, Sessions
from leapfrog.console._settings import ConsoleSettings
from leapfrog.console._supervisor import StackWatch
from leapfrog.console._timerange import unzoomed

__all__ = ["NAV", "Console", "catalog", "console", "page", "session", "write_form"]

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
NAV = (
    ("/", "Overview"),
    ("/services", "Services"),
    ("/kv", "KV"),
    ("/logs", "Logs"),
    ("/metrics", "Metrics"),
    ("/backups", "Backups"),
    ("/streams", "Streams"),
)


class Console:
    """The app's state: settings, sessions, the HTTP client, the stack's live view."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.sessions = Sessions()
        self.http = httpx.AsyncClient()
        self.watch = StackWatch(settings.control_socket)
        self.streams = 0
        """Overview pages following the stack right now."""

    def flink_url(self) -> str | None:
        if self.settings.flink_url:
            return self.settings.flink_url
        row = next((r for r in self.watch.rows if r.unit == "flink"), None)
        return f"http://{row.address}" if row else None


def console(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


def session(request: Request) -> Session:
    """The logged-in session (the middleware let only those through)."""
    found = console(request).sessions.get(request.cookies.get(COOKIE))
    if found is None:
        raise UserError("your session ended", "log in again")
    return found


def sessions(request: Request) -> Sessions:
    return console(request).sessions


def catalog(request: Request) -> CatalogClient:
    app = console(request)
    return CatalogClient(app.settings.catalog_url, session(request).token, app.http)


def page(
    request: Request,
    template: str,
    *,
    error: UserError | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    app = console(request)
    current = app.sessions.get(request.cookies.get(COOKIE))
    context.update(
        request=request,
        nav=NAV,
        me=current,
        stack=app.settings.stack,
        error=error,
        path=request.url.path,
        unzoomed=unzoomed(request.url.path, request.query_params.multi_items()),
    )
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status)


async def write_form(request: Request) -> FormData:
    """The form of a write, after the CSRF check; UserError for a read-only session."""
    form = await request.form()
    sent = request.headers.get("x-csrf-token") or str(form.get("csrf") or "")
    me = session(request)
    if not me.csrf_ok(sent):
        raise UserError(
            "this form is stale or was not sent by the console",
            "reload the page and try again",
            403,
        )
    if not me.can_write:
        raise UserError("this console is read-only: your token has no write rights", status=403)
    return form
