"""A trivial service for the benchmarks: answers 200 to GET /health on $HOST:$PORT.

Standard library only, so it starts the same under any Python 3 (the benchmarks run it
with /usr/bin/python3 as the unprivileged app user).
"""

from __future__ import annotations

import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ok = self.path == "/health"
        body = b"ok\n" if ok else b"not found\n"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per probe would only measure the log file


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with HTTPServer((host, port), Handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
