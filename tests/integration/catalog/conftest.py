"""`leapfrog catalog serve` as a real process, started once per session, and test peers."""

from __future__ import annotations

import http.server
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import consul
import pytest

from leapfrog.testing import CatalogProcess as _CatalogProcess

ROOT = Path(__file__).resolve().parents[3]
READY = re.compile(r"catalog ready: http=([\d.]+):(\d+) dns=([\d.]+):(\d+)")


class CatalogProcess(_CatalogProcess):
    def client(self, token: str | None = None) -> consul.Consul:
        return consul.Consul(host="127.0.0.1", port=self.port, token=token)


@pytest.fixture(scope="session")
def catalog_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogProcess]:
    base = tmp_path_factory.mktemp("catalog")
    proc = CatalogProcess(base / "data")
    proc.start()
    yield proc
    assert proc.stop() == 0


@pytest.fixture(scope="session")
def acl_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogProcess]:
    base = tmp_path_factory.mktemp("catalog-acl")
    token_file = base / "token"
    token_file.write_text("management-secret\n")
    token_file.chmod(0o600)
    proc = CatalogProcess(base / "data", "--acl-token-file", str(token_file))
    proc.start()
    yield proc
    assert proc.stop() == 0


@pytest.fixture
def c(catalog_proc: CatalogProcess) -> consul.Consul:
    return catalog_proc.client()


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        healthy = self.path in ("/health", "/health/ready")  # the latter: the SDK's path
        status = 429 if self.path == "/busy" else 200 if healthy else 500
        body = f"agent={self.headers.get('User-Agent')}".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def http_peer() -> Iterator[str]:
    """Base URL of a local HTTP server: /health and /health/ready 200, /busy 429, anything
    else 500."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def health_port(http_peer: str) -> int:
    """The port of `http_peer`, whose /health/ready answers 200 like an SDK instance's."""
    return int(http_peer.rsplit(":", 1)[1])


@pytest.fixture(scope="session")
def tcp_peer() -> Iterator[int]:
    """Port of a local TCP listener that accepts and closes connections."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                conn.close()
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()
