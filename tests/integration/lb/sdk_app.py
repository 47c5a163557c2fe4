"""A service on leapfrog's SDK for the load balancer's stack test: answers every path
with its instance name and version. The SDK registers it in the catalog with its route
and, on SIGTERM, deregisters and drains."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from leapfrog.service import Service

WHO = f"{os.environ.get('LEAPFROG_INSTANCE', '?')} {os.environ.get('LEAPFROG_VERSION', '?')}"


async def who(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"{WHO} {request.url.path}\n")


app = Starlette(routes=[Route("/{path:path}", who)])

if __name__ == "__main__":
    Service(app).run()
