"""A TCP service that resolves names with the C library, as any program does: each
connection sends names (one line, space-separated) and gets back, per name, the IPv4
addresses found or the error, and the seconds the look-up took (JSON). At start it
registers itself in the catalog (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN), as services do."""

import json
import os
import socket
import socketserver
import time
import urllib.request


def resolve(name: str) -> dict[str, object]:
    started = time.monotonic()
    try:
        found = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        result: dict[str, object] = {"addresses": sorted({str(f[4][0]) for f in found})}
    except OSError as exc:
        result = {"error": type(exc).__name__, "errno": exc.errno}
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


class Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        names = self.rfile.readline().decode().split()
        self.wfile.write(json.dumps({name: resolve(name) for name in names}).encode())


def register() -> None:
    body = {"Name": os.environ["LEAPFROG_SERVICE"], "Address": HOST, "Port": PORT}
    request = urllib.request.Request(
        f"http://{os.environ['CONSUL_HTTP_ADDR']}/v1/agent/service/register",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"X-Consul-Token": os.environ.get("CONSUL_HTTP_TOKEN", "")},
    )
    urllib.request.urlopen(request, timeout=10).close()


HOST, PORT = os.environ["HOST"], int(os.environ["PORT"])
register()
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
server = socketserver.ThreadingTCPServer((HOST, PORT), Handler)
server.serve_forever()
