"""One stack for the console's browser tests: the catalog (ACL on), Kafka, OpenSearch,
InfluxDB, both pipelines, the console, and a service that logs a line a second; and
Debian's Chromium driven by Playwright (never a browser Playwright downloads)."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leapfrog.testing import StackDir

CHROMIUM = Path("/usr/bin/chromium")
CONSOLE = "http://127.0.0.1:8900"

STACK = """\
name: consoletest
components:
  kafka:
    topics: {{logs: {{partitions: 1}}, metrics: {{partitions: 1}}}}
  opensearch: {{}}
  influxdb: {{databases: {{metrics: {{}}}}}}
  logs-pipeline: {{}}
  metrics-pipeline: {{database: metrics}}
  console: {{metrics_database: metrics}}
services:
  ticker:
    command: sh -c 'while true; do echo "console probe $RUN_ID"; sleep 1; done'
    env: {{RUN_ID: {run}}}
    restart: {{policy: always, backoff: 5s}}
"""


@dataclass(frozen=True)
class ConsoleStack:
    stack: StackDir
    run: str
    management: str
    read: str
    shots: Path


# Module scope, not session: the stack and the browser end with the module that uses them.
# Playwright's sync API keeps an event loop running in this thread while it lives, so a
# later test's `asyncio.run` would fail if the browser outlived the console's tests.
@pytest.fixture(scope="module")
def console_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleStack]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: scripts/bootstrap.sh installs it")
    run = uuid.uuid4().hex[:10]
    os.environ["LEAPFROG_METRICS_INTERVAL"] = "2"
    shots = tmp_path_factory.mktemp("console-shots")  # pytest keeps the last three runs
    with StackDir(STACK.format(run=run)) as stack:
        result = stack.up(timeout=400)
        assert result.code == 0, result.output
        secrets = stack.cli("secrets", "catalog", "--json", "--show-secrets")
        assert secrets.code == 0, secrets.output
        tokens = json.loads(secrets.stdout)["catalog"]
        yield ConsoleStack(stack, run, tokens["management token"], tokens["read token"], shots)
    os.environ.pop("LEAPFROG_METRICS_INTERVAL", None)
    print(f"\nconsole screenshots: {shots}")
    if not any(shots.iterdir()):
        shutil.rmtree(shots, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def login(browser: Any, token: str) -> tuple[Any, list[str]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{CONSOLE}/")
    assert page.url.endswith("/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{CONSOLE}/")
    return page, errors


def drawn_points(page: Any, path: str, panel: str) -> int:
    """The points the panel titled `panel` drew on the dashboard at `path` (0: none yet)."""
    page.goto(f"{CONSOLE}{path}")
    page.wait_for_load_state("networkidle")
    chart = page.locator(".panel", has=page.locator("h2", has_text=panel)).locator(".chart")
    assert chart.count() == 1, (path, panel)
    charts_drawn(page)
    return int(chart.get_attribute("data-points") or 0)


def charts_drawn(page: Any, timeout: float = 60) -> None:
    """Wait until every chart on the page is drawn (or says why not). The wait runs as a
    function in the page: the console's CSP forbids the eval that a string predicate of
    Playwright's `wait_for_function` needs."""
    page.evaluate(
        """limit => new Promise((resolve, reject) => {
          const end = performance.now() + limit;
          const check = () => {
            if (!document.querySelector('.chart:not([data-points])')) resolve(true);
            else if (performance.now() > end) reject(new Error('charts not drawn'));
            else setTimeout(check, 20);
          };
          check();
        })""",
        timeout * 1000,
    )
