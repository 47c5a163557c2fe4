"""The console in a real browser (Debian's Chromium through Playwright) on a real stack:
every page renders without a console error, a KV edit round-trips, a read-only token
cannot write, a log line the stack wrote is found through the search box, a chart draws
real points, a killed instance's row turns red within 2 s without a reload, and bad
input gets a sentence on the page. Screenshots of each page are kept under a temp dir."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.console.conftest import (
    CONSOLE,
    ConsoleStack,
    drawn_points,
    login,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

PAGES = ["/", "/services", "/services/kafka", "/kv", "/token", "/logs", "/metrics",
         "/metrics?dashboard=service&service=ticker", "/metrics?dashboard=opensearch",
         "/metrics?dashboard=influxdb", "/metrics?dashboard=lb",
         "/metrics/query?q=SHOW+MEASUREMENTS", "/instances/ticker-1", "/backups",
         "/streams"]  # fmt: skip


@pytest.fixture
def admin(console_stack: ConsoleStack, browser: Any) -> Iterator[tuple[Any, list[str]]]:
    page, errors = login(browser, console_stack.management)
    yield page, errors
    page.context.close()


def _kv(stack: ConsoleStack, key: str) -> bytes | None:
    answer = httpx.get(
        f"http://127.0.0.1:8500/v1/kv/{key}?raw",
        headers={"X-Consul-Token": stack.management},
        timeout=10,
    )
    return answer.content if answer.status_code == 200 else None


def test_every_page_renders_without_console_errors(
    console_stack: ConsoleStack, admin: tuple[Any, list[str]]
) -> None:
    page, errors = admin
    for path in PAGES:
        page.goto(f"{CONSOLE}{path}")
        page.wait_for_load_state("networkidle")
        assert page.locator("main h1").count() == 1, path
        assert "Traceback" not in page.content()
        name = path.strip("/").replace("/", "_").replace("?", "_").replace("&", "_") or "overview"
        page.screenshot(path=str(console_stack.shots / f"{name}.png"), full_page=True)
    assert errors == []


def test_no_secret_is_rendered(console_stack: ConsoleStack, admin: tuple[Any, list[str]]) -> None:
    page, _ = admin
    for path in ("/", "/token", "/services"):
        page.goto(f"{CONSOLE}{path}")
        assert console_stack.management not in page.content()
    cookies = page.context.cookies()
    assert all(console_stack.management not in c["value"] for c in cookies)


def test_kv_edit_round_trips(console_stack: ConsoleStack, admin: tuple[Any, list[str]]) -> None:
    page, errors = admin
    key = f"console/{console_stack.run}/color"
    page.goto(f"{CONSOLE}/kv")
    page.fill("#kv-key", key)
    page.fill("#kv-value", "blue")
    page.click("#kv-save")
    page.wait_for_selector(".notice")
    assert _kv(console_stack, key) == b"blue"
    assert page.input_value("#kv-value") == "blue"
    page.fill("#kv-value", "green")
    page.click("#kv-save")
    page.wait_for_selector(".notice")
    assert _kv(console_stack, key) == b"green"
    page.goto(f"{CONSOLE}/kv?prefix=console/{console_stack.run}/")
    assert page.locator("ul.keys a", has_text="color").count() == 1
    page.goto(f"{CONSOLE}/kv?key={key}")
    page.click("#kv-delete")
    page.wait_for_load_state()
    assert _kv(console_stack, key) is None
    assert errors == []


def test_read_only_token_cannot_write(console_stack: ConsoleStack, browser: Any) -> None:
    page, errors = login(browser, console_stack.read)
    try:
        page.goto(f"{CONSOLE}/kv")
        assert page.locator("form.kv-edit").count() == 0
        assert "read-only" in page.locator("header").inner_text()
        csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
        key = f"console/{console_stack.run}/forbidden"
        answer = page.request.post(f"{CONSOLE}/kv", form={"csrf": csrf, "key": key, "value": "x"})
        assert "read-only" in answer.text()
        assert _kv(console_stack, key) is None
        assert errors == []
    finally:
        page.context.close()


def test_a_write_without_the_csrf_token_is_refused(
    console_stack: ConsoleStack, admin: tuple[Any, list[str]]
) -> None:
    page, _ = admin
    key = f"console/{console_stack.run}/forged"
    answer = page.request.post(f"{CONSOLE}/kv", form={"key": key, "value": "x"})
    assert "stale or was not sent by the console" in answer.text()
    assert _kv(console_stack, key) is None


def test_a_log_line_is_found_through_the_search_box(
    console_stack: ConsoleStack, admin: tuple[Any, list[str]]
) -> None:
    page, errors = admin
    page.goto(f"{CONSOLE}/logs")
    page.fill("#log-q", f'"console probe {console_stack.run}"')

    def found() -> bool:
        page.click("#log-search button[type=submit]")
        page.wait_for_load_state("networkidle")
        return console_stack.run in page.locator("#results table.logs").inner_text()

    wait_until(found, 120, "the ticker's log line in the search results")
    assert int(page.locator("#log-total").inner_text()) >= 1
    assert page.locator("#results .histogram canvas").count() == 1
    page.locator("#results table.logs a").first.click()
    page.wait_for_load_state()
    assert console_stack.run in page.locator("pre.doc").inner_text()
    page.screenshot(path=str(console_stack.shots / "log_search.png"), full_page=True)
    assert errors == []


@pytest.mark.parametrize(
    ("path", "panel"),
    [
        ("/metrics?dashboard=service&service=ticker&from=now-15m", "Memory"),
        ("/metrics?dashboard=opensearch&from=now-15m", "Documents"),
        ("/metrics?dashboard=opensearch&from=now-15m", "JVM heap used"),
        ("/metrics?dashboard=influxdb&from=now-15m", "Points written"),
        ("/metrics?dashboard=influxdb&from=now-15m", "Series by database"),
    ],
)
def test_a_chart_draws_real_points(
    console_stack: ConsoleStack, admin: tuple[Any, list[str]], path: str, panel: str
) -> None:
    page, errors = admin
    wait_until(lambda: drawn_points(page, path, panel) > 0, 120, f"points in {panel} of {path}")
    assert page.locator(".panel canvas").count() >= 1
    name = f"metrics_{path.split('dashboard=')[1].split('&', maxsplit=1)[0]}_points.png"
    page.screenshot(path=str(console_stack.shots / name), full_page=True)
    assert errors == []


def test_bad_input_is_a_sentence_on_the_page(
    console_stack: ConsoleStack, admin: tuple[Any, list[str]]
) -> None:
    page, errors = admin
    cases = {
        "/logs?q=level:(": "OpenSearch cannot read this search",
        "/logs?from=2099-01-01T00:00": "starts in the future",
        "/logs?from=tomorrow": "is not a time",
        "/services/no-such-service": "no service named",
        "/metrics?dashboard=service&service=no-such-service": "no service named",
        "/metrics/query?q=DROP+DATABASE+metrics": "only one SELECT or SHOW",
        "/instances/no-such-instance": "no instance named",
        "/instances/ticker-1?from=now+1h": "is not a time",
    }
    for path, words in cases.items():
        page.goto(f"{CONSOLE}{path}")
        alert = page.locator(".error[role=alert]")
        assert alert.count() == 1, path
        assert words in alert.inner_text(), (path, alert.inner_text())
        assert "Traceback" not in page.content()
    assert errors == []


def test_a_killed_instance_turns_red_without_reload(
    console_stack: ConsoleStack, admin: tuple[Any, list[str]]
) -> None:
    page, errors = admin
    stack = console_stack.stack
    wait_until(lambda: stack.instance("ticker-1")["state"] == "healthy", 60, "ticker healthy")
    page.goto(f"{CONSOLE}/")
    row = 'tr[data-instance="ticker-1"]'
    page.wait_for_selector(f"{row}.ok", timeout=10_000)
    page.evaluate("window.__notReloaded = true")
    pid = stack.instance("ticker-1")["pid"]
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    page.wait_for_selector(f"{row}.bad", timeout=2_000)
    took = time.monotonic() - killed
    assert page.evaluate("window.__notReloaded") is True
    print(f"\nkilled instance red after {took * 1000:.0f} ms")
    page.screenshot(path=str(console_stack.shots / "overview_killed.png"), full_page=True)
    page.wait_for_selector(f"{row}.ok", timeout=30_000)  # restarted after its backoff

    # Its health history: the kill and the return to healthy, from the supervisor's
    # events in OpenSearch, reached from the row's link.
    def in_history() -> bool:
        page.goto(f"{CONSOLE}/")
        page.click(f"{row} a[href='/instances/ticker-1']")
        page.wait_for_url(f"{CONSOLE}/instances/ticker-1")
        changes = page.locator("#changes tbody tr")
        if changes.count() == 0:
            return False
        kill = page.locator("#changes tr[data-event=exited]", has_text="SIGKILL")
        return kill.count() >= 1 and changes.first.get_attribute("data-event") == "health"

    wait_until(in_history, 120, "the kill and the recovery in ticker-1's health history")
    assert page.locator("#state-now").inner_text() == "healthy"
    assert page.locator("#spent tr", has_text="healthy").count() == 1
    page.screenshot(path=str(console_stack.shots / "instance_history.png"), full_page=True)
    assert errors == []
