"""Headers every answer carries (a strict Content-Security-Policy: only the console's own
scripts and styles, no inline code, no framing) and the login wall: every page but
/login, /healthz and /static needs a session."""

from __future__ import annotations

from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leapfrog.console._sessions import COOKIE, Sessions

__all__ = ["CSP", "SecurityMiddleware"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
_OPEN = ("/login", "/healthz", "/-/metrics", "/static/", "/favicon.ico")


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, sessions: Sessions) -> None:
        self.app, self.sessions = app, sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if not path.startswith(_OPEN) and self.sessions.get(_sid(scope)) is None:
            await _to_login(scope, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    h
                    for h in message.get("headers", [])
                    if h[0] != b"cache-control" or not path.startswith("/static/")
                ]
                keep = path.startswith("/static/")
                headers += [h for h in _HEADERS if not (keep and h[0] == b"cache-control")]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _sid(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            cookie: SimpleCookie = SimpleCookie()
            try:
                cookie.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header is no session
                return None
            if COOKIE in cookie:
                return cookie[COOKIE].value
    return None


async def _to_login(scope: Scope, send: Send) -> None:
    htmx = any(name == b"hx-request" for name, _ in scope.get("headers", []))
    headers = [(b"content-type", b"text/plain; charset=utf-8"), *_HEADERS]
    if htmx or scope["path"].endswith("/stream"):
        status = 401
        headers.append((b"hx-redirect", b"/login"))
    else:
        status = 303
        headers.append((b"location", b"/login"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"log in first: /login\n"})
