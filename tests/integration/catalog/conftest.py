"""`leapfrog catalog serve` as a real process, started once per session, and test peers."""

from __future__ import annotations

import http.server
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import consul
import pytest

ROOT = Path(__file__).resolve().parents[3]
READY = re.compile(r"catalog ready: http=([\d.]+):(\d+) dns=([\d.]+):(\d+)")


class CatalogProcess:
    """One `leapfrog catalog serve` subprocess over a data directory, restartable."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.extra = extra
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.dns_port = 0

    def start(self) -> None:
        command = [sys.executable, "-m", "leapfrog", "catalog", "serve", "--http", "127.0.0.1:0"]
        command += ["--dns", "127.0.0.1:0", "--data-dir", str(self.data_dir), "--node", "itest"]
        self.proc = subprocess.Popen(
            [*command, *self.extra],
            stdout=subprocess.PIPE,
            stderr=open(self.data_dir.parent / "catalog.log", "a"),  # noqa: SIM115
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = READY.search(line)
        assert match, f"catalog did not start: {line!r}"
        self.port, self.dns_port = int(match.group(2)), int(match.group(4))

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=15)
        self.proc = None
        return code

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
        status = 429 if self.path == "/busy" else 200 if self.path == "/health" else 500
        body = f"agent={self.headers.get('User-Agent')}".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def http_peer() -> Iterator[str]:
    """Base URL of a local HTTP server: /health 200, /busy 429, anything else 500."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


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
