"""The benchmark's handler, served either through the SDK or by bare uvicorn.

`python sdk_hello.py sdk|bare HOST PORT`, or `mtls HOST PORT CATALOG_ADDR`: the SDK with
service identity on (mTLS with the catalog's leaf, callers checked against intentions).
"""

from __future__ import annotations

import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello world!\n")


app = Starlette(routes=[Route("/", hello)])

if __name__ == "__main__":
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "mtls":
        from leapfrog.service import Service

        addr = sys.argv[4]
        Service(
            app, "hello", host=host, port=port, register=False, identity=True, consul_addr=addr
        ).run()
    elif mode == "sdk":
        from leapfrog.service import Service

        # No catalog and no Kafka: what is measured is the request path the SDK adds.
        Service(app, "bench", host=host, port=port, register=False).run()
    else:
        import uvicorn

        uvicorn.run(
            app,
            host=host,
            port=port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="warning",
            server_header=False,
        )
