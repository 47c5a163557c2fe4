"""rest_call never raises: every failure is a one-line reason (a stdlib server answers)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from leapfrog.components._rest import rest_call
from leapfrog.shared.ports import free_port

ANSWERS = {
    "/ok": (200, b'{"status": "green"}'),
    "/empty": (204, b""),
    "/broken": (500, b"boom\n  with   spaces"),
    "/text": (200, b"not json"),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code, body = ANSWERS[self.path.split("?")[0]]
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def call(url: str, **kw: bool) -> tuple[object, str | None]:
    return asyncio.run(rest_call("GET", url, timeout=2.0, **kw))


def test_a_json_body_comes_back(base: str) -> None:
    assert call(f"{base}/ok") == ({"status": "green"}, None)
    assert call(f"{base}/empty", expect_json=False) == ({}, None)


def test_failures_are_one_line_reasons(base: str) -> None:
    body, error = call(f"{base}/broken")
    assert body is None and error == f"GET {base}/broken: HTTP 500 boom with spaces"
    body, error = call(f"{base}/text")
    assert body is None and error == f"GET {base}/text: not JSON: not json"
    body, error = call(f"http://127.0.0.1:{free_port()}/")
    assert body is None and error is not None and "\n" not in error
