"""hello: answers "Hello world!" and its host name, as in the seed.

Standard library only for now; the service SDK (leapfrog.service) will take over its
registration, logging and metrics.
"""

import http.server
import json
import os
import signal
import socket
import sys

HOST, PORT = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8000"))
INSTANCE = os.environ.get("LEAPFROG_INSTANCE", "hello")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health/hostname":
            self._send(200, socket.gethostname() + "\n")
        elif self.path == "/":
            self._send(200, f"Hello world! from {INSTANCE} on {socket.gethostname()}\n")
        else:
            self._send(404, "Resource not found\n")

    def _send(self, code: int, body: str) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args: object) -> None:
        line = {"instance": INSTANCE, "client": self.client_address[0], "request": fmt % args}
        print(json.dumps(line), flush=True)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = http.server.ThreadingHTTPServer((HOST, PORT), Handler)
    print(f"{INSTANCE} listening on http://{HOST}:{PORT}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
