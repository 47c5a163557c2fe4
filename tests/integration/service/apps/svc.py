"""A service for the SDK's tests: GET / answers, GET /slow?s= holds a request open,
POST /status/{passing|warning|critical}?reason= sets what the instance reports."""

from __future__ import annotations

import asyncio
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from leapfrog.service import Service

log = logging.getLogger("svc")


async def root(request: Request) -> PlainTextResponse:
    return PlainTextResponse(service.settings.instance)


async def slow(request: Request) -> PlainTextResponse:
    await asyncio.sleep(float(request.query_params.get("s", "1")))
    return PlainTextResponse("done")


async def status(request: Request) -> PlainTextResponse:
    reason = request.query_params.get("reason", "")
    what = request.path_params["what"]
    {"passing": service.health.ok, "warning": service.health.warn, "critical": service.health.fail}[
        what
    ](reason)
    return PlainTextResponse(what)


async def say(request: Request) -> PlainTextResponse:
    n = int(request.query_params.get("n", "1"))
    for i in range(n):
        log.info("said %d", i, extra={"seq": i, "who": "test"})
    return PlainTextResponse(str(n))


app = Starlette(
    routes=[
        Route("/", root),
        Route("/slow", slow),
        Route("/say", say, methods=["POST"]),
        Route("/status/{what}", status, methods=["POST"]),
    ]
)
service = Service(app)

if __name__ == "__main__":
    service.run()
