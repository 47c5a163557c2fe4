"""The console's dashboards fed by the load balancer and Flink, in a real browser on a
real stack: HAProxy routes a service under load, the lb's figures and Flink's
service-stats job (request count, 5xx share and latency percentiles per route and 10 s
window, from the lb's access events in Kafka) reach InfluxDB through the metrics
pipeline, and the Service and Load balancer dashboards draw them; the Streams page shows
the job running."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from leapfrog.testing import StackDir
from tests.integration.conftest import PYTHON
from tests.integration.console.conftest import (
    CHROMIUM,
    CONSOLE,
    drawn_points,
    login,
    wait_until,
)
from tests.integration.lb.conftest import BACKEND, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

STACK = """\
name: consolestats
components:
  kafka:
    topics:
      logs: {{partitions: 1}}
      metrics: {{partitions: 1}}
      service-stats: {{partitions: 1}}
  influxdb: {{databases: {{metrics: {{}}}}}}
  metrics-pipeline: {{database: metrics}}
  lb: {{engine: haproxy, listen: '{listen}', stats: '{stats}'}}
  flink: {{service_stats: {{lateness: 2s}}}}
  console: {{metrics_database: metrics}}
services:
  web:
    command: {python} backend.py ${{CONSUL_HTTP_ADDR}} web ${{LEAPFROG_INSTANCE}} /web 0.5
"""


@pytest.fixture(scope="module")
def loaded() -> Iterator[tuple[StackDir, str]]:
    """The stack up, `web` served through the lb under a steady load (until the module
    ends); yields the stack and its management token."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: scripts/bootstrap.sh installs it")
    listen, stats = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    with StackDir(STACK.format(listen=listen, stats=stats, python=PYTHON)) as stack:
        shutil.copy(BACKEND, stack.root / "backend.py")
        result = stack.up(timeout=600)
        assert result.code == 0, result.output
        secrets = stack.cli("secrets", "catalog", "--json", "--show-secrets")
        assert secrets.code == 0, secrets.output
        token = json.loads(secrets.stdout)["catalog"]["management token"]
        wait_until(
            lambda: httpx.get(f"http://{listen}/web", timeout=5).status_code == 200,
            60,
            "web served through the lb",
        )
        done = threading.Event()

        def load() -> None:
            with httpx.Client(timeout=5) as client:
                while not done.is_set():
                    for path in ("/web", "/web/items?page=1", "/web/items?page=2"):
                        with contextlib.suppress(httpx.HTTPError):
                            client.get(f"http://{listen}{path}")
                    done.wait(0.05)

        SHOTS.mkdir(exist_ok=True)
        worker = threading.Thread(target=load, daemon=True)
        worker.start()
        try:
            yield stack, token
        finally:
            done.set()
            worker.join(10)
            print(f"\nconsole screenshots: {SHOTS}")


@pytest.fixture
def admin(loaded: tuple[StackDir, str], browser: Any) -> Iterator[tuple[Any, list[str]]]:
    page, errors = login(browser, loaded[1])
    yield page, errors
    page.context.close()


SHOTS = Path(tempfile.gettempdir()) / "lf-console-shots-stats"
SERVICE = "/metrics?dashboard=service&service=web&from=now-15m"
LB = "/metrics?dashboard=lb&from=now-15m"


@pytest.mark.parametrize(
    ("path", "panel"),
    [
        (SERVICE, "Requests through the load balancer"),
        (SERVICE, "Errors (5xx) through the load balancer"),
        (SERVICE, "Latency by route"),
        (LB, "Requests by backend"),
        (LB, "Response time by backend"),
        (LB, "Servers up"),
    ],
)
def test_dashboards_draw_the_lb_and_flink_figures(
    loaded: tuple[StackDir, str], admin: tuple[Any, list[str]], path: str, panel: str
) -> None:
    page, errors = admin
    wait_until(lambda: drawn_points(page, path, panel) > 0, 300, f"points in {panel} of {path}")
    board = path.split("dashboard=")[1].split("&", maxsplit=1)[0]
    page.screenshot(path=str(SHOTS / f"metrics_{board}_stats.png"), full_page=True)
    assert errors == []


def test_latency_is_drawn_per_route_and_percentile(
    loaded: tuple[StackDir, str], admin: tuple[Any, list[str]]
) -> None:
    page, errors = admin
    wait_until(lambda: drawn_points(page, SERVICE, "Latency by route") > 0, 300, "latency")
    answer = page.request.get(
        f"{CONSOLE}/metrics/panel?dashboard=service&panel=2&service=web&from=now-15m"
    ).json()
    labels = {series["label"] for series in answer["series"]}
    assert {"route=/web p50", "route=/web p99", "route=/web/items p95"} <= labels, labels
    assert answer["unit"] == "ms"
    assert errors == []


def test_the_streams_page_shows_the_stats_job_running(
    loaded: tuple[StackDir, str], admin: tuple[Any, list[str]]
) -> None:
    page, errors = admin
    page.goto(f"{CONSOLE}/streams")
    row = page.locator("tr", has_text="service-stats")
    assert row.count() == 1
    assert "RUNNING" in row.inner_text()

    # Throughput (records its source emitted) and checkpoints, read from Flink's REST API.
    def counted() -> bool:
        page.goto(f"{CONSOLE}/streams")
        records = row.locator("td.records").inner_text()
        return (
            records.isdigit()
            and int(records) > 0
            and row.locator("td.checkpoints").inner_text() != ""
        )

    wait_until(counted, 120, "the stats job's records and checkpoints on the Streams page")
    assert float(row.locator("td.rate").inner_text()) >= 0
    assert errors == []
