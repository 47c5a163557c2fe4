"""The console against stores that do not answer: `leapfrog console serve` as a process,
a real catalog (ACL off), OpenSearch and InfluxDB URLs where nothing listens. Every page
says so in a sentence; none is a traceback or a blank page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from leapfrog.shared.ports import free_port
from leapfrog.testing import CatalogProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def console_url(tmp_path: Path) -> Iterator[str]:
    nowhere = f"http://127.0.0.1:{free_port()}"
    with CatalogProcess(tmp_path / "catalog") as catalog:
        port = free_port()
        env = {
            **os.environ,
            "CONSUL_HTTP_ADDR": catalog.http_addr,
            "OPENSEARCH_URL": nowhere,
            "INFLUXDB_URL": nowhere,
            "FLINK_URL": nowhere,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "leapfrog", "console", "serve", "--listen", f"127.0.0.1:{port}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            _, errors = proc.communicate(timeout=15)
            assert b"Traceback" not in errors, errors.decode()[-2000:]


def test_every_page_says_which_store_does_not_answer(console_url: str) -> None:
    with httpx.Client(base_url=console_url, timeout=30) as client:
        login = client.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', login)
        assert csrf is not None
        answer = client.post("/login", data={"csrf": csrf.group(1), "token": ""})
        assert answer.status_code == 303, answer.text  # ACL off: anyone may log in
        expected = {
            "/logs?q=hello": "OpenSearch at",
            "/metrics/query?q=SHOW+DATABASES": "InfluxDB at",
            "/streams": "REST API at",
            "/": "no supervisor: the console runs outside a stack",
        }
        for path, words in expected.items():
            page = client.get(path)
            assert page.status_code == 200, path
            assert words in page.text, (path, page.text[-800:])
            assert "Traceback" not in page.text
        panel = client.get("/metrics/panel?dashboard=platform&panel=0").json()
        assert "does not answer" in panel["error"]
        assert "does not answer" in client.get("/logs?q=x").text
