"""A real catalog, real HAProxy and nginx run by `leapfrog lb run`, and small instances
that register themselves, for the load balancer's integration tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from leapfrog.components import component
from leapfrog.lb import DEFAULT_TEMPLATES
from leapfrog.testing import CatalogProcess, free_port, scratch_dir

BACKEND = Path(__file__).parent / "backend.py"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = last = check()
        except (httpx.HTTPError, OSError, AssertionError) as exc:
            result, last = None, exc
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
        time.sleep(0.05)


class Backend:
    def __init__(
        self, catalog: str, name: str, ident: str, route: str, drain: float, *, strip: bool = False
    ) -> None:
        self.ident = ident
        self.proc = subprocess.Popen(
            [sys.executable, str(BACKEND), catalog, name, ident, route, str(drain)]
            + (["strip"] if strip else []),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("ready"), f"backend {ident} did not start: {line!r}"
        self.port = int(line.split()[1])

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def fail_check(self) -> None:
        httpx.get(f"http://127.0.0.1:{self.port}/fail")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


class Balancer:
    """`leapfrog lb run` as a subprocess; its JSON events are collected from stdout."""

    def __init__(
        self,
        engine: str,
        catalog: str,
        data_dir: Path,
        template: Path | None = None,
        env: dict[str, str] | None = None,
    ):
        self.engine = engine
        self.listen = f"127.0.0.1:{free_port()}"
        self.stats = f"127.0.0.1:{free_port()}"
        self.events: list[dict[str, Any]] = []
        binary = component("lb").install(
            component("lb").options({"engine": engine}), data_dir, lambda _line: None
        )
        argv = [sys.executable, "-m", "leapfrog", "lb", "run", "--engine", engine]
        argv += ["--listen", self.listen, "--stats", self.stats, "--data-dir", str(data_dir)]
        argv += ["--binary", binary.extra["binary"], "--wait", "20ms:200ms"]
        if template is not None:
            argv += ["--template", str(template)]
        full_env = {**os.environ, "CONSUL_HTTP_ADDR": catalog, **(env or {})}
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=full_env)
        threading.Thread(target=self._read, daemon=True).start()
        wait_for(f"{engine} up", lambda: httpx.get(f"http://{self.stats}/health").is_success)
        self.http = httpx.Client(base_url=f"http://{self.listen}", timeout=10)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.events.append(json.loads(line))

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("kind") == kind]

    def served_by(self, path: str, count: int = 12) -> set[str]:
        """Which instances answered `count` requests to `path` (all must succeed)."""
        seen = set()
        for _ in range(count):
            response = self.http.get(path)
            assert response.status_code == 200, (response.status_code, response.text)
            seen.add(response.text.strip())
        return seen

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def lb_dir() -> Iterator[Path]:
    with scratch_dir("lf-lb-") as path:
        yield path


@pytest.fixture(scope="session")
def catalog(lb_dir: Path) -> Iterator[CatalogProcess]:
    with CatalogProcess(lb_dir / "catalog") as cat:
        yield cat


@pytest.fixture
def backends(catalog: CatalogProcess) -> Iterator[Callable[..., Backend]]:
    started: list[Backend] = []

    def start(
        name: str, ident: str, route: str = "", drain: float = 1.0, strip: bool = False
    ) -> Backend:
        backend = Backend(catalog.http_addr, name, ident, route, drain, strip=strip)
        started.append(backend)
        return backend

    yield start
    for backend in started:
        backend.stop()
        httpx.put(f"http://{catalog.http_addr}/v1/agent/service/deregister/{backend.ident}")


def _balancer(engine: str, catalog: CatalogProcess, lb_dir: Path) -> Iterator[Balancer]:
    balancer = Balancer(engine, catalog.http_addr, lb_dir / engine)
    yield balancer
    balancer.stop()


@pytest.fixture(scope="session")
def haproxy(catalog: CatalogProcess, lb_dir: Path) -> Iterator[Balancer]:
    yield from _balancer("haproxy", catalog, lb_dir)


@pytest.fixture(scope="session")
def nginx(catalog: CatalogProcess, lb_dir: Path) -> Iterator[Balancer]:
    yield from _balancer("nginx", catalog, lb_dir)


@pytest.fixture(params=["haproxy", "nginx"])
def balancer(request: pytest.FixtureRequest) -> Balancer:
    found: Balancer = request.getfixturevalue(request.param)
    return found


def breakable_template(engine: str, where: Path) -> Path:
    """The default template, plus a line that is not configuration while the key
    lbtest/break is set."""
    name = "haproxy.cfg.j2" if engine == "haproxy" else "nginx.conf.j2"
    text = (DEFAULT_TEMPLATES / name).read_text()
    text += '{% if key("lbtest/break") %}\nthis is not configuration\n{% endif %}\n'
    path = where / f"breakable-{name}"
    path.write_text(text)
    return path
