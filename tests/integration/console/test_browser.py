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
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.integration.console.conftest import (
    CONSOLE,
    ConsoleStack,
    charts_drawn,
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


def test_the_token_list_shows_the_stacks_tokens_without_secrets(
    console_stack: ConsoleStack, admin: tuple[Any, list[str]], browser: Any
) -> None:
    page, errors = admin
    page.goto(f"{CONSOLE}/token")
    rows = page.locator("table.tokens tbody tr")
    text = page.locator("table.tokens").inner_text()
    # The management token (you), the read and DNS tokens, and the ticker's own token
    # with its service identity.
    assert rows.count() >= 4, text
    assert page.locator("table.tokens tr.you").count() == 1
    assert "DNS lookups" in text and "ticker" in text
    assert console_stack.management not in page.content()
    assert console_stack.read not in page.content()
    assert errors == []
    reader, reader_errors = login(browser, console_stack.read)
    try:
        reader.goto(f"{CONSOLE}/token")
        assert reader.locator("table.tokens").count() == 0
        assert 'acl = "read"' in reader.locator("[role=alert]").inner_text()
        assert reader_errors == []
    finally:
        reader.context.close()


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


def _drag_across(page: Any, chart: Any, start: float, end: float) -> None:
    """Drag the mouse over `chart`'s plotting area from `start` to `end` (CSS pixels from
    its left edge), as a user selecting a span."""
    box = chart.locator(".u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + start, y)
    page.mouse.down()
    page.mouse.move(box["x"] + end, y, steps=8)
    page.mouse.up()


_DRAWN = """e => {
  const t = e.plot.data[0], v = e.plot.data.slice(1);
  const has = i => v.some(s => s[i] != null && s[i] !== 0);
  let a = t.findIndex((_, i) => has(i)), b = t.length - 1;
  while (b > a && !has(b)) b--;
  return a < 0 ? null : [t[a], t[b], e.plot.valToPos(t[a], 'x'), e.plot.valToPos(t[b], 'x'),
                         e.plot.over.clientWidth];
}"""
"""The first and last time a chart has a non-zero value, their positions in CSS pixels
and the plotting area's width (null: nothing drawn)."""


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC).timestamp()


def _range_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_a_drag_across_a_chart_zooms_the_whole_page(
    console_stack: ConsoleStack, admin: tuple[Any, list[str]]
) -> None:
    page, errors = admin
    path = "/metrics?dashboard=service&service=ticker&from=now-5m"
    memory = page.locator(".panel", has=page.locator("h2", has_text="Memory")).locator(".chart")

    def enough() -> bool:
        if drawn_points(page, path, "Memory") == 0:
            return False
        extent = memory.evaluate(_DRAWN)
        return extent is not None and extent[1] - extent[0] >= 30

    wait_until(enough, 120, "30 s of ticker's memory drawn")
    first, last, left, right, width = memory.evaluate(_DRAWN)
    assert 3 <= right - left < width
    _drag_across(page, memory, left, right)
    page.wait_for_url("**reset_from=**")
    zoomed = _range_of(page.url)
    assert (zoomed["reset_from"], zoomed["reset_to"]) == ("now-5m", "now")
    assert zoomed["service"] == "ticker"
    start, end = _epoch(zoomed["from"]), _epoch(zoomed["to"])
    assert abs(start - first) <= 2 and abs(end - last) <= 2, (zoomed, first, last)
    assert end - start < 300

    # Every panel asks for the zoomed range and draws it; the inputs show it.
    charts_drawn(page)
    sources = page.locator(".chart").evaluate_all("els => els.map(e => e.dataset.src)")
    assert len(sources) == 7
    for source in sources:
        asked = _range_of(source)
        assert (asked["from"], asked["to"]) == (zoomed["from"], zoomed["to"]), source
    assert int(memory.get_attribute("data-points") or 0) > 0
    axis = memory.evaluate("e => [e.plot.scales.x.min, e.plot.scales.x.max]")
    assert abs(axis[0] - start) <= 3 and abs(axis[1] - end) <= 3, (axis, start, end)
    assert page.input_value("input[name=from]") == zoomed["from"]

    # The range is the URL's: a reload keeps it; the service's logs follow it.
    page.reload()
    charts_drawn(page)
    assert _range_of(page.url)["from"] == zoomed["from"]
    assert int(memory.get_attribute("data-points") or 0) > 0
    page.screenshot(path=str(console_stack.shots / "metrics_zoomed.png"), full_page=True)
    page.click("#range-logs")
    page.wait_for_url("**/logs?**")
    assert page.input_value("input[name=from]") == zoomed["from"]
    assert page.input_value("input[name=to]") == zoomed["to"]
    page.go_back()

    # Reset: back to the range before the first zoom.
    page.click("#reset-zoom")
    page.wait_for_url("**from=now-5m**")
    back = _range_of(page.url)
    assert (back["from"], back["to"], back["service"]) == ("now-5m", "now", "ticker")
    assert "reset_from" not in back
    assert page.locator("#reset-zoom").count() == 0
    assert errors == []


def test_a_drag_across_the_log_histogram_narrows_the_search(
    console_stack: ConsoleStack, admin: tuple[Any, list[str]]
) -> None:
    page, errors = admin
    page.goto(f"{CONSOLE}/logs?from=now-3m")
    phrase = f'"console probe {console_stack.run}"'
    page.fill("#log-q", phrase)
    histogram = page.locator("#results .histogram")

    def enough() -> bool:
        page.click("#log-search button[type=submit]")
        page.wait_for_load_state("networkidle")
        if page.locator("#log-total").count() == 0:
            return False
        extent = histogram.evaluate(_DRAWN)
        return extent is not None and extent[1] - extent[0] >= 20

    wait_until(enough, 120, "20 s of the ticker's log lines in the histogram")
    # The search box's search is in the address bar, so it reloads and shares as is.
    assert _range_of(page.url)["q"] == phrase
    page.reload()
    assert page.locator("#results table.logs td", has_text=console_stack.run).count() >= 1
    before = int(page.locator("#log-total").inner_text())
    first, last, left, right, _ = histogram.evaluate(_DRAWN)
    _drag_across(page, histogram, left, right)
    page.wait_for_url("**reset_from=**")
    zoomed = _range_of(page.url)
    assert zoomed["q"] == phrase
    start, end = _epoch(zoomed["from"]), _epoch(zoomed["to"])
    assert abs(start - first) <= 2 and abs(end - last) <= 2, (zoomed, first, last)
    total = int(page.locator("#log-total").inner_text())
    assert 0 < total <= before
    shown = page.locator("#results table.logs tbody tr td:first-child").all_inner_texts()
    assert shown
    for moment in shown:
        assert start <= _epoch(moment) <= end + 1, (moment, zoomed)
    page.screenshot(path=str(console_stack.shots / "logs_zoomed.png"), full_page=True)
    page.click("#reset-zoom")
    page.wait_for_url("**from=now-3m**")
    assert int(page.locator("#log-total").inner_text()) >= before
    assert errors == []
