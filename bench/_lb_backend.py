"""The instance behind the load balancer in bench/lb.py. `bare`: an asyncio HTTP/1.1
server with keep-alive that answers every GET with a short body (no work at all: the
hardest case for a proxy's ratio); `starlette`: the same answer from a Starlette app on
uvicorn, what the team's services run. Prints `ready PORT`.

Run: python _lb_backend.py bare|starlette"""

from __future__ import annotations

import asyncio

BODY = b"hello from the bench backend\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def bare() -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


async def starlette() -> None:
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(_request: object) -> PlainTextResponse:
        return PlainTextResponse(BODY.decode())

    app = Starlette(routes=[Route("/{path:path}", hello)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    config = uvicorn.Config(app, log_level="warning", access_log=False, http="httptools")
    print(f"ready {sock.getsockname()[1]}", flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


if __name__ == "__main__":
    import sys

    import uvloop

    uvloop.run(starlette() if sys.argv[1:] == ["starlette"] else bare())
