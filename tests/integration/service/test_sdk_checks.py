"""Each check mode against the real catalog, shutdown by SIGTERM and by kill -9, and
re-registration when the catalog forgets."""

from __future__ import annotations

import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from leapfrog.testing import CatalogProcess, wait_until
from tests.integration.service.conftest import SdkProcess, catalog_health


def status_of(catalog: CatalogProcess, proc: SdkProcess) -> str | None:
    return catalog_health(catalog, proc.name).get(proc.instance)


@pytest.mark.parametrize("mode", ["http", "ttl", "tcp"])
def test_each_check_mode_turns_passing(catalog: CatalogProcess, sdk: Any, mode: str) -> None:
    proc = sdk(f"modes-{mode}", f"modes-{mode}-1", LEAPFROG_CHECK=mode)
    wait_until(lambda: status_of(catalog, proc) == "passing", what=f"{mode} passing")
    meta = httpx.get(f"http://{catalog.http_addr}/v1/agent/service/{proc.instance}").json()
    assert meta["Port"] == proc.port and meta["Meta"]["instance"] == proc.instance


@pytest.mark.parametrize("mode", ["http", "ttl"])
def test_reported_trouble_reaches_the_catalog(catalog: CatalogProcess, sdk: Any, mode: str) -> None:
    proc = sdk(f"trouble-{mode}", f"trouble-{mode}-1", LEAPFROG_CHECK=mode, LEAPFROG_CHECK_TTL="3s")
    wait_until(lambda: status_of(catalog, proc) == "passing", what="passing")
    httpx.post(proc.url + "/status/warning", params={"reason": "disk 91% full"})
    wait_until(lambda: status_of(catalog, proc) == "warning", what="warning")
    httpx.post(proc.url + "/status/critical", params={"reason": "lost its database"})
    wait_until(lambda: status_of(catalog, proc) == "critical", what="critical")
    checks = httpx.get(f"http://{catalog.http_addr}/v1/health/checks/trouble-{mode}").json()
    if mode == "ttl":
        assert checks[0]["Output"] == "lost its database"
    httpx.post(proc.url + "/status/passing")
    wait_until(lambda: status_of(catalog, proc) == "passing", what="passing again")


def test_sigterm_deregisters_first_then_finishes_in_flight_requests(
    catalog: CatalogProcess, sdk: Any
) -> None:
    proc = sdk("drain", "drain-1", LEAPFROG_DRAIN="1500ms")
    wait_until(lambda: status_of(catalog, proc) == "passing", what="passing")
    answers: list[httpx.Response] = []
    slow = threading.Thread(
        target=lambda: answers.append(httpx.get(proc.url + "/slow?s=2.5", timeout=10))
    )
    slow.start()
    wait_until(lambda: "1.0" in httpx.get(proc.url + "/metrics").text, what="request in flight")
    proc.signal(signal.SIGTERM)
    wait_until(lambda: status_of(catalog, proc) is None, what="deregistration")
    assert proc.proc is not None and proc.proc.poll() is None, "deregistered only at exit"
    assert httpx.get(proc.url + "/health/ready").status_code == 503  # still serving: draining
    assert proc.wait() == 0
    slow.join()
    assert answers[0].status_code == 200 and answers[0].text == "done"


def test_kill_9_goes_critical_then_is_removed(catalog: CatalogProcess, sdk: Any) -> None:
    proc = sdk("crash", "crash-1", LEAPFROG_DEREGISTER_AFTER="1s")
    wait_until(lambda: status_of(catalog, proc) == "passing", what="passing")
    proc.signal(signal.SIGKILL)
    proc.wait()
    wait_until(lambda: status_of(catalog, proc) == "critical", what="critical")
    wait_until(lambda: status_of(catalog, proc) is None, timeout=20, what="reaped")


@pytest.mark.parametrize("mode", ["http", "ttl"])
def test_a_catalog_that_lost_its_state_gets_the_instance_back(tmp_path: Path, mode: str) -> None:
    data = tmp_path / "data"
    with CatalogProcess(data) as catalog:
        proc = SdkProcess(catalog, "comeback", f"comeback-{mode}", tmp_path, LEAPFROG_CHECK=mode)
        proc.env["LEAPFROG_CHECK_TTL"] = "1500ms"
        proc.start()
        try:
            wait_until(lambda: status_of(catalog, proc) == "passing", what="passing")
            catalog.stop()
            shutil.rmtree(data)
            # Same ports, empty state: the instance is known again only if the SDK
            # registers it anew (it may already have by the time the catalog answers).
            catalog.start()
            wait_until(lambda: status_of(catalog, proc) == "passing", what="re-registration")
        finally:
            proc.stop()
