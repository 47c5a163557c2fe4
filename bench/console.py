"""The console in Chromium: page load (navigation to DOMContentLoaded) p95 per page,
the first page's transfer size, and live-update latency (an instance killed to its row
turning red) p99, each beside a baseline measured in the same run:

* page load: the same HTML, scripts and styles saved to files and served by Python's
  `http.server` (no app, no catalog call), loaded the same way;
* live update: the supervisor's own `watch` stream on the control socket (the state
  change the console turns into the row).

Needs Debian's chromium and Playwright (dev dependency); run under the shared lock
(`flock /tmp/lf-itest.lock .venv/bin/python bench/console.py`): it starts a stack with
the catalog on 127.0.0.1:8500 and the console on 127.0.0.1:8900.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from leapfrog.testing import StackDir

CONSOLE = "http://127.0.0.1:8900"
PAGES = ["/", "/services", "/kv", "/token", "/backups", "/streams"]
STACK = """\
name: consolebench
components:
  console: {}
services:
  sleeper:
    command: sh -c 'while true; do sleep 1; done'
    replicas: 2
    restart: {policy: always, backoff: 1s}
"""


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _load_ms(page: Any, url: str) -> float:
    page.goto(url, wait_until="domcontentloaded")
    timing = page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return [n.domContentLoadedEventEnd - n.startTime, n.transferSize]; }"
    )
    return float(timing[0])


def _mirror(page: Any, root: Path) -> None:
    """The overview as static files: its HTML and every asset at the same paths."""
    page.goto(f"{CONSOLE}/")
    (root / "index.html").write_text(page.content())
    for asset in ("/static/console.css", "/static/console.js", "/static/vendor/htmx/htmx.min.js"):
        body = page.request.get(f"{CONSOLE}{asset}").body()
        target = root / asset.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _static_server(root: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


class _Watch(threading.Thread):
    """The supervisor's watch stream, noting when `name`'s process is seen gone."""

    def __init__(self, control: Path, name: str) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(control))
        self.sock.sendall(b'{"op": "watch"}\n')
        self.lines = self.sock.makefile("rb")
        json.loads(self.lines.readline())
        self.name, self.gone_at = name, 0.0

    def run(self) -> None:
        for line in self.lines:
            item = next(i for i in json.loads(line)["instances"] if i["name"] == self.name)
            if item["pid"] is None:
                self.gone_at = time.monotonic()
                break
        self.sock.close()


def _healthy(stack: StackDir, name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        item = stack.instance(name)
        if item["state"] == "healthy" and item["pid"]:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not come back")


def _pages(page: Any, rounds: int) -> dict[str, float]:
    results: dict[str, float] = {}
    for path in PAGES:
        _load_ms(page, f"{CONSOLE}{path}")  # warm
        loads = [_load_ms(page, f"{CONSOLE}{path}") for _ in range(rounds)]
        results[f"page {path} p95 ms"] = round(_p(loads, 0.95), 1)
    with tempfile.TemporaryDirectory() as scratch:
        _mirror(page, Path(scratch))
        server, port = _static_server(Path(scratch))
        url = f"http://127.0.0.1:{port}/index.html"
        base = [_load_ms(page, url) for _ in range(rounds)]
        server.shutdown()
    results["baseline: static copy of / p95 ms"] = round(_p(base, 0.95), 1)
    results["ratio / to its static copy"] = round(
        results["page / p95 ms"] / max(results["baseline: static copy of / p95 ms"], 0.1), 2
    )
    return results


def _transfer(browser: Any, page: Any) -> dict[str, float]:
    sum_js = "() => performance.getEntries().reduce((n, e) => n + (e.transferSize || 0), 0)"
    fresh = browser.new_context().new_page()
    fresh.goto(f"{CONSOLE}/login", wait_until="load")  # a first visit: nothing cached
    first = fresh.evaluate(sum_js) / 1024
    fresh.context.close()
    page.goto(f"{CONSOLE}/", wait_until="load")
    return {
        "first visit transfer KB (login, gzip)": round(first, 1),
        "overview transfer KB (assets cached)": round(page.evaluate(sum_js) / 1024, 1),
    }


def _live(stack: StackDir, page: Any, kills: int) -> dict[str, float]:
    control = stack.root / ".leapfrog/run/control.sock"
    red: list[float] = []
    watch: list[float] = []
    for round_ in range(kills):
        name = f"sleeper-{round_ % 2 + 1}"
        _healthy(stack, name)
        page.goto(f"{CONSOLE}/")
        row = f'tr[data-instance="{name}"]'
        page.wait_for_selector(f"{row}.ok")
        pid = stack.instance(name)["pid"]
        follower = _Watch(control, name)
        follower.start()
        start = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        page.wait_for_selector(f"{row}.bad", timeout=5000)
        red.append(time.monotonic() - start)
        follower.join(5)
        watch.append(follower.gone_at - start)
    results = {
        "live update: kill -> red row p99 ms": round(_p(red, 0.99) * 1000, 1),
        "baseline: kill -> control socket watch p99 ms": round(_p(watch, 0.99) * 1000, 1),
    }
    base = max(results["baseline: kill -> control socket watch p99 ms"], 0.1)
    results["ratio row to watch"] = round(results["live update: kill -> red row p99 ms"] / base, 2)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="loads per page")
    parser.add_argument("--kills", type=int, default=10, help="live-update measurements")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {}
    with StackDir(STACK) as stack, sync_playwright() as driver:
        up = stack.up(timeout=300)
        if up.code != 0:
            print(up.output, file=sys.stderr)
            return 1
        secrets = json.loads(stack.cli("secrets", "catalog", "--json").stdout)["catalog"]
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{CONSOLE}/login")
        page.fill("input[name=token]", secrets["management token"])
        page.click("button[type=submit]")
        page.wait_for_url(f"{CONSOLE}/")
        results |= _pages(page, args.rounds)
        results |= _transfer(browser, page)
        results |= _live(stack, page, args.kills)
        browser.close()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:55} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
