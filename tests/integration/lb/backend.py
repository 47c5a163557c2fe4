"""A tiny HTTP instance for the load-balancer tests: answers with its id, registers itself
in the catalog with an HTTP check, and on SIGTERM deregisters, keeps serving for its drain
time, then leaves - what a well-behaved service does. GET /fail makes its check fail.

Run: python backend.py CATALOG_ADDR NAME ID [ROUTE_PATH] [DRAIN_SECONDS] [strip]
Prints `ready PORT` once registered; every answer says the path it got in `X-Path`.
Uses CONSUL_HTTP_TOKEN when set."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import urllib.request


def catalog_put(catalog: str, path: str, body: object | None = None) -> None:
    data = json.dumps(body).encode() if body is not None else b""
    token = os.environ.get("CONSUL_HTTP_TOKEN", "")
    headers = {"X-Consul-Token": token} if token else {}
    request = urllib.request.Request(
        f"http://{catalog}{path}", data=data, method="PUT", headers=headers
    )
    urllib.request.urlopen(request, timeout=5).read()


async def main() -> None:
    catalog, name, ident = sys.argv[1:4]
    route = sys.argv[4] if len(sys.argv) > 4 else ""
    drain = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
    strip = "true" if sys.argv[6:7] == ["strip"] else "false"
    state = {"healthy": True, "closing": False}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                if path == "/fail":
                    state["healthy"] = False
                status = "500 Failing" if path == "/health" and not state["healthy"] else "200 OK"
                body = f"{ident}\n".encode()
                close = state["closing"]
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nX-Path: {path}\r\n"
                    f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    meta = {"route_path": route, "route_strip_prefix": strip} if route else {}
    registration = {
        "Name": name,
        "ID": ident,
        "Address": "127.0.0.1",
        "Port": port,
        "Meta": meta,
        "Check": {"HTTP": f"http://127.0.0.1:{port}/health", "Interval": "1s", "Timeout": "1s"},
    }
    await asyncio.to_thread(catalog_put, catalog, "/v1/agent/service/register", registration)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print(f"ready {port}", flush=True)
    await stop.wait()
    await asyncio.to_thread(catalog_put, catalog, f"/v1/agent/service/deregister/{ident}")
    await asyncio.sleep(drain)
    state["closing"] = True
    server.close()
    await asyncio.sleep(0.2)


if __name__ == "__main__":
    asyncio.run(main())
