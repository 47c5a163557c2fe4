"""bench/scale.py's service, on leapfrog's SDK: answers every path with its instance
name. Under leapfrog the SDK registers it (with its route) and the load balancer follows;
started by hand (LEAPFROG_REGISTER=false) it only serves."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from leapfrog.service import Service

WHO = os.environ.get("LEAPFROG_INSTANCE", "?")


async def who(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"{WHO}\n")


app = Starlette(routes=[Route("/{path:path}", who)])

if __name__ == "__main__":
    Service(app).run()
