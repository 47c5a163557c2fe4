"""A real catalog for the session, and SDK services run as real processes against it."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from leapfrog.testing import CatalogProcess, free_port

APPS = Path(__file__).parent / "apps"


@pytest.fixture(scope="session")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogProcess]:
    base = tmp_path_factory.mktemp("sdk-catalog")
    # Reaping after 1s instead of Consul's 1m floor, so kill -9 -> removal is testable.
    with CatalogProcess(
        base / "data", "--reap-after-minimum", "1", "--reap-interval", "0.5"
    ) as proc:
        yield proc


class SdkProcess:
    """One SDK service instance as a subprocess."""

    def __init__(
        self, catalog: CatalogProcess, name: str, instance: str, logs: Path, **env: str
    ) -> None:
        self.host = "127.0.0.1"
        self.port = free_port(self.host)
        self.name, self.instance = name, instance
        self.env = {
            **os.environ,
            "LEAPFROG_SERVICE": name,
            "LEAPFROG_INSTANCE": instance,
            "HOST": self.host,
            "PORT": str(self.port),
            "CONSUL_HTTP_ADDR": catalog.http_addr,
            "LEAPFROG_CHECK_INTERVAL": "1s",
            "LEAPFROG_DRAIN": "1s",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        if "KAFKA_BOOTSTRAP_SERVERS" not in env:
            self.env.pop("KAFKA_BOOTSTRAP_SERVERS", None)  # no shipping unless asked
        self.log = logs / f"sdk-{instance}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SdkProcess:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(APPS / "svc.py")], env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health/live", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, self.log.read_text()
            time.sleep(0.05)
        raise AssertionError(f"{self.instance} did not start: {self.log.read_text()}")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 20) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def sdk(catalog: CatalogProcess, tmp_path: Path) -> Iterator[Any]:
    started: list[SdkProcess] = []

    def make(name: str, instance: str, **env: str) -> SdkProcess:
        proc = SdkProcess(catalog, name, instance, tmp_path, **env)
        started.append(proc)
        return proc.start()

    yield make
    for proc in started:
        proc.stop()


def catalog_health(catalog: CatalogProcess, name: str) -> dict[str, str]:
    """Status of each registered instance of `name`: passing, warning or critical."""
    entries = httpx.get(f"http://{catalog.http_addr}/v1/health/service/{name}").json()
    return {
        e["Service"]["ID"]: next((c["Status"] for c in e["Checks"] if c["ServiceID"]), "passing")
        for e in entries
    }


def mesh_catalog_process(base: Path) -> CatalogProcess:
    """A catalog for identity tests: ACL off, default deny, 10 s leaves (they rotate
    6-9 s in, within a test)."""
    return CatalogProcess(
        base / "data", "--acl", "off", "--default-intention-policy", "deny",
        "--leaf-cert-ttl", "10s",
    )  # fmt: skip


class MeshService(SdkProcess):
    """apps/mesh.py with identity on: it serves https, so readiness is read over TLS."""

    def __init__(self, catalog: CatalogProcess, name: str, logs: Path, **env: str) -> None:
        super().__init__(
            catalog, name, f"{name}-1", logs, LEAPFROG_IDENTITY="on", LEAPFROG_DRAIN="0s", **env
        )

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self) -> MeshService:
        with open(self.log, "ab") as log:
            argv = [sys.executable, str(APPS / "mesh.py")]
            self.proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=log)
        return self

    def ready(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
        try:
            answer = httpx.get(self.url + "/health/ready", verify=False, timeout=1)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200


def mtls_client(leaf: dict[str, Any], roots_pem: str, directory: Path) -> httpx.Client:
    """An httpx client presenting `leaf` (a `/v1/agent/connect/ca/leaf` answer) and
    trusting only `roots_pem`: a caller of identity-on services in a test."""
    name = leaf["Service"]
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    cert.write_text(leaf["CertPEM"])
    key.write_text(leaf["PrivateKeyPEM"])
    context = ssl.create_default_context(cadata=roots_pem)
    context.check_hostname = False  # instances are called by address here
    context.load_cert_chain(cert, key)
    return httpx.Client(verify=context, timeout=10)
