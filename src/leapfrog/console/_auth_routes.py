"""Login with a catalog ACL token, and logout. The token is checked against the catalog
(`/v1/acl/token/self`), its write rights probed once, and kept on the server; the
browser gets a session cookie. Login's own CSRF check is a double-submit cookie."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from leapfrog.console._catalog import CatalogClient
from leapfrog.console._errors import UserError
from leapfrog.console._sessions import COOKIE, Session
from leapfrog.console._web import console, page, write_form

__all__ = ["auth_routes"]

_LOGIN_CSRF = "leapfrog_console_login"


async def login_form(request: Request, error: UserError | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = page(request, "login.html", error=error, csrf=token)
    response.set_cookie(_LOGIN_CSRF, token, httponly=True, samesite="strict", path="/login")
    return response


async def login(request: Request) -> Response:
    form = await request.form()
    sent, kept = str(form.get("csrf") or ""), request.cookies.get(_LOGIN_CSRF, "")
    if not sent or not secrets.compare_digest(sent, kept):
        return await login_form(request, UserError("the login form was stale", "try again"))
    token = str(form.get("token") or "").strip()
    app = console(request)
    client = CatalogClient(app.settings.catalog_url, token, app.http)
    try:
        info = await client.token_self()
        if info is None:  # ACL off: anyone may do anything, and the console says so
            session = Session(token, "", "the catalog runs without ACL", can_write=True)
        else:
            if not token:
                raise UserError(
                    "paste a catalog ACL token", "`leapfrog secrets catalog` prints them"
                )
            policies = ", ".join(p.get("Name", "") for p in info.get("Policies", []))
            session = Session(
                token,
                str(info.get("AccessorID", "")),
                f"{info.get('Description', '')} ({policies})",
                can_write=await client.can_write(),
            )
    except UserError as exc:
        return await login_form(request, exc)
    sid = app.sessions.create(session)
    response = RedirectResponse(str(request.query_params.get("next") or "/"), status_code=303)
    if not response.headers["location"].startswith("/") or response.headers["location"].startswith(
        "//"
    ):
        response.headers["location"] = "/"
    response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", path="/")
    response.delete_cookie(_LOGIN_CSRF, path="/login")
    return response


async def logout(request: Request) -> Response:
    try:
        await write_form(request)
    except UserError as exc:
        if exc.status != 403 or "read-only" not in exc.message:
            return page(request, "error.html", error=exc)
    console(request).sessions.drop(request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def auth_routes() -> list[Route]:
    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
