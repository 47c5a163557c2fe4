"""`/health` and `/metrics` of one of leapfrog's own long-running programs (the pipelines,
the backup scheduler), served from a thread of their own so a busy loop still answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

__all__ = ["serve_health"]


def serve_health(
    health: Callable[[], dict[str, Any]],
    registry: CollectorRegistry,
    listen: tuple[str, int],
    thread_name: str,
) -> ThreadingHTTPServer:
    """`/health` (JSON, 503 when its `ok` is false) and `/metrics` (Prometheus text)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/health":
                found = health()
                body = json.dumps(found).encode()
                self._answer(200 if found["ok"] else 503, body, "application/json")
            elif self.path == "/metrics":
                self._answer(200, generate_latest(registry), "text/plain; version=0.0.4")
            else:
                self._answer(404, b"not found: /health or /metrics\n", "text/plain")

        def _answer(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes every few seconds are not news."""

    server = ThreadingHTTPServer(listen, Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=thread_name, daemon=True).start()
    return server
