"""A service for the identity tests: GET / answers who called it (the caller's service
name from its certificate); GET /call/{name} calls that service over mTLS with
ServiceClient and answers its status and body."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from leapfrog.service import Service, ServiceClient

clients: dict[str, ServiceClient] = {}


async def root(request: Request) -> PlainTextResponse:
    # With identity off, nobody is named: "called by None".
    caller = getattr(request.state, "caller", None)
    return PlainTextResponse(f"{service.settings.name} called by {caller}")


async def call(request: Request) -> JSONResponse:
    name = request.path_params["name"]
    client = clients.get(name)
    if client is None:
        client = clients[name] = ServiceClient(name, identity=service.identity)
    answer = await client.get("/")
    return JSONResponse({"status": answer.status_code, "body": answer.text})


app = Starlette(routes=[Route("/", root), Route("/call/{name}", call)])
service = Service(app)

if __name__ == "__main__":
    service.run()
