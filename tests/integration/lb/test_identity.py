"""The load balancer presents its own identity to SDK services that serve mutual TLS, with
real HAProxy and real nginx: the service sees the caller `lb` (403 until an intention lets
it in, then its answers pass through), and the lb's certificate rotates (a new file and a
reload) under steady traffic without a failed request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from leapfrog.testing import CatalogProcess, wait_until
from tests.integration.lb.conftest import Balancer
from tests.integration.service.conftest import MeshService, mesh_catalog_process

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def mesh_catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogProcess]:
    with mesh_catalog_process(tmp_path_factory.mktemp("lb-identity-catalog")) as proc:
        yield proc


@pytest.fixture(scope="module")
def db(
    mesh_catalog: CatalogProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MeshService]:
    logs = tmp_path_factory.mktemp("lb-identity-logs")
    service = MeshService(
        mesh_catalog, "db", logs, LEAPFROG_ROUTE_PATH="/db", LEAPFROG_ROUTE_STRIP_PREFIX="true"
    ).start()
    try:
        wait_until(service.ready, timeout=30, what="db serving TLS")
        yield service
    finally:
        service.stop()


def _intention(catalog: CatalogProcess, action: str | None) -> None:
    url = f"http://{catalog.http_addr}/v1/connect/intentions/exact"
    params = {"source": "lb", "destination": "db"}
    if action is None:
        httpx.delete(url, params=params).raise_for_status()
    else:
        httpx.put(url, params=params, json={"Action": action}).raise_for_status()


def _leaf_files(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "run" / "mesh").glob("lb-*.pem"))


@pytest.mark.parametrize("engine", ["haproxy", "nginx"])
def test_the_lb_presents_its_identity_and_rotates_it(
    engine: str, mesh_catalog: CatalogProcess, db: MeshService, tmp_path: Path
) -> None:
    data_dir = tmp_path / engine
    balancer = Balancer(engine, mesh_catalog.http_addr, data_dir, env={"LEAPFROG_IDENTITY": "on"})
    try:

        def answer() -> httpx.Response | None:
            got = balancer.http.get("/db/")
            return got if got.status_code != 404 else None  # 404: not routed yet

        # No intention: the SDK names the caller the proxy presented, and refuses it.
        denied = wait_until(answer, timeout=20, what=f"db routed by {engine}")
        assert denied is not None
        assert denied.status_code == 403, denied.text
        assert denied.text == "caller 'lb' is not allowed: Default intention policy"

        _intention(mesh_catalog, "allow")
        wait_until(
            lambda: balancer.http.get("/db/").status_code == 200, timeout=5, what="lb let in"
        )
        assert balancer.http.get("/db/").text == "db called by lb"

        # The lb's leaf rotates (6-9 s into a 10 s leaf): a new file, a reload, no error.
        first = _leaf_files(data_dir)
        assert len(first) == 1
        failures: list[tuple[int, str]] = []
        count = 0
        deadline = time.monotonic() + 11
        while time.monotonic() < deadline:
            got = balancer.http.get("/db/")
            count += 1
            if (got.status_code, got.text) != (200, "db called by lb"):
                failures.append((got.status_code, got.text))
            time.sleep(0.02)
        assert failures == [] and count > 50
        rotated = _leaf_files(data_dir)
        assert len(rotated) == 1 and rotated != first
    finally:
        balancer.stop()
        _intention(mesh_catalog, None)
