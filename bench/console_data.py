"""The console over a large data set, in Chromium: 1,000,000 log documents spread over
24 h in OpenSearch and 24 h of metrics at 10 s resolution for 20 services in InfluxDB
(the supervisor's per-instance figures and Flink's per-service statistics), then:

* log search: the Logs page (the search runs before the page is sent) navigation to
  DOMContentLoaded and to its histogram drawn, p95, for a rare phrase, a filter on one
  service and `level:error` over 24 h; baseline: the same search body posted straight to
  OpenSearch (`_search`, with the histogram aggregation), same run;
* a dashboard: the Service dashboard over 24 h, navigation to DOMContentLoaded and to
  every chart drawn, p95; its queries (`/metrics/panel`, each one InfluxQL query as
  JSON) p95; baseline: the same expanded InfluxQL straight to InfluxDB's `/query`.

Targets (issue 16): log search <= 500 ms, a dashboard's queries <= 300 ms, pages <= 300 ms.

Needs Debian's chromium and Playwright (dev dependency). Run under the shared lock
(`flock /tmp/lf-itest.lock .venv/bin/python bench/console_data.py`): it starts a stack
(catalog on 127.0.0.1:28500/28600, the console on 127.0.0.1:28900, OpenSearch and InfluxDB
on the stack's own loopback addresses) and stops it at the end. `--docs` and `--services`
make it smaller for a quick look.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from leapfrog.console import DASHBOARDS
from leapfrog.console._influx import expand
from leapfrog.console._logsearch import LogSearch
from leapfrog.console._timerange import parse_range
from leapfrog.pipelines import index_template
from leapfrog.testing import StackDir

CONSOLE = "http://127.0.0.1:28900"
STACK = """\
name: consoledata
catalog: {http: '127.0.0.1:28500', dns: '127.0.0.1:28600'}
components:
  opensearch: {}
  influxdb: {databases: {metrics: {}}}
  console: {listen: '127.0.0.1:28900', metrics_database: metrics}
"""
HOURS = 24
STEP = 10
WORDS = ("order", "payment", "user", "cache", "request", "timeout", "retry", "stock",
         "invoice", "session", "queue", "ledger", "shipment", "token", "report")  # fmt: skip
LEVELS = ("info",) * 90 + ("warning",) * 8 + ("error",) * 2
_BATCH = 20_000
"""Documents a `_bulk` request (about 5 MB)."""


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _bulk_bodies(docs: int, services: int, needle: str, end: datetime) -> Iterator[bytes]:
    """The documents as `_bulk` bodies of _BATCH documents each, oldest first; the middle
    one says `needle`."""
    rng = random.Random(16)
    span = HOURS * 3600.0
    actions: dict[str, str] = {}
    lines: list[str] = []
    for i in range(docs):
        when = end - timedelta(seconds=span * (docs - i) / docs)
        index = f"logs-{when:%Y.%m.%d}"
        action = actions.get(index) or actions.setdefault(
            index, json.dumps({"index": {"_index": index}})
        )
        service = f"svc-{i % services:02d}"
        message = (
            f"{needle} found" if i == docs // 2 else " ".join(rng.choices(WORDS, k=8)) + f" #{i}"
        )
        stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        lines.append(action)
        lines.append(
            f'{{"@timestamp":"{stamp}","message":"{message}","service":"{service}",'
            f'"instance":"{service}-{i % 2 + 1}","level":"{rng.choice(LEVELS)}",'
            f'"logger":"{service}.app","host":"bench"}}'
        )
        if len(lines) >= 2 * _BATCH:
            yield ("\n".join(lines) + "\n").encode()
            lines = []
    if lines:
        yield ("\n".join(lines) + "\n").encode()


def _load_logs(url: str, docs: int, services: int, needle: str, budget: float) -> tuple[int, float]:
    """`docs` events spread evenly over the last 24 h into the daily indices, sent as
    large `_bulk` requests two at a time while the next one is built, with refresh off
    until the end. Stops at `budget` seconds. Returns (documents loaded, seconds)."""
    started = time.monotonic()
    end = datetime.now(UTC)
    with httpx.Client(base_url=url, timeout=600) as client:
        client.put("/_index_template/leapfrog-logs", json=index_template("logs")).raise_for_status()
        for day in {f"{end - timedelta(hours=h):%Y.%m.%d}" for h in range(HOURS + 1)}:
            client.put(
                f"/logs-{day}", json={"settings": {"refresh_interval": "-1"}}
            ).raise_for_status()

        def send(body: bytes) -> int:
            answer = client.post(
                "/_bulk", content=body, headers={"Content-Type": "application/x-ndjson"}
            )
            answer.raise_for_status()
            result = answer.json()
            if result.get("errors"):
                raise RuntimeError(f"bulk load refused documents: {answer.text[:500]}")
            return len(result["items"])

        loaded = 0
        with ThreadPoolExecutor(max_workers=2) as pool:
            pending: list[Future[int]] = []
            for body in _bulk_bodies(docs, services, needle, end):
                pending.append(pool.submit(send, body))
                while len(pending) >= 2:
                    loaded += pending.pop(0).result()
                if time.monotonic() - started > budget:
                    print(f"log load stopped at its budget ({budget:.0f} s)", file=sys.stderr)
                    break
            for job in pending:
                loaded += job.result()
        client.put("/logs-*/_settings", json={"index": {"refresh_interval": None}})
        client.post("/logs-*/_refresh").raise_for_status()
    return loaded, time.monotonic() - started


def _load_metrics(url: str, services: int) -> tuple[int, float]:
    """24 h at 10 s for each service: its two instances' request counter, CPU, memory and
    restarts, and Flink's per-window statistics. Returns (points, seconds)."""
    started = time.monotonic()
    rng = random.Random(16)
    end = int(time.time()) // STEP * STEP
    steps = HOURS * 3600 // STEP
    points = 0
    with httpx.Client(timeout=300) as client:
        lines: list[str] = []

        def flush() -> None:
            nonlocal lines
            answer = client.post(
                f"{url}/write", params={"db": "metrics", "precision": "s"}, content="\n".join(lines)
            )
            if answer.status_code != 204:
                raise RuntimeError(f"InfluxDB refused the points: {answer.text[:300]}")
            lines = []

        for s in range(services):
            service = f"svc-{s:02d}"
            for k in (1, 2):
                tags = f"instance={service}-{k},service={service}"
                requests = cpu = 0.0
                for n in range(steps):
                    t = end - (steps - n) * STEP
                    requests += rng.randint(50, 150)
                    cpu += rng.uniform(0.1, 0.5)
                    rss = 50_000_000 + rng.randint(0, 10_000_000)
                    lines.append(f"http_requests_total,{tags} value={requests} {t}")
                    lines.append(f"leapfrog_instance_cpu_seconds_total,{tags} value={cpu} {t}")
                    lines.append(f"leapfrog_instance_rss_bytes,{tags} value={rss} {t}")
                    lines.append(f"leapfrog_instance_restarts_total,{tags} value=0 {t}")
                    points += 4
                    if len(lines) >= 50_000:
                        flush()
            for n in range(steps):
                t = end - (steps - n) * STEP
                count = rng.randint(100, 300)
                p50 = rng.uniform(2, 8)
                lines.append(
                    f"service_stats,route=/,service={service} requests={count}i,"
                    f"errors={rng.randint(0, 3)}i,bytes={count * 900}i,p50_ms={p50},"
                    f"p95_ms={p50 * 3},p99_ms={p50 * 6} {t}"
                )
                points += 1
                if len(lines) >= 50_000:
                    flush()
        if lines:
            flush()
    return points, time.monotonic() - started


def _navigate(page: Any, url: str) -> tuple[float, float]:
    """(ms to DOMContentLoaded, ms until every chart on the page is drawn). The wait runs
    as a function in the page (the console's CSP forbids the eval a string predicate
    of `wait_for_function` needs)."""
    page.goto(url, wait_until="domcontentloaded")
    timing = page.evaluate(
        """() => new Promise((resolve, reject) => {
          const limit = performance.now() + 60000;
          const check = () => {
            const alert = document.querySelector('.error[role=alert]');
            if (alert) { reject(new Error('the page says: ' + alert.textContent)); return; }
            const charts = document.querySelectorAll('.chart');
            if (charts.length && !document.querySelector('.chart:not([data-points])')) {
              resolve([performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
                       performance.now()]);
            } else if (performance.now() > limit) {
              reject(new Error('charts not drawn within 60 s'));
            } else {
              setTimeout(check, 2);
            }
          };
          check();
        })"""
    )
    return float(timing[0]), float(timing[1])


def _timed(call: Any, rounds: int) -> list[float]:
    call()  # warm
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _log_search(page: Any, opensearch: str, needle: str, rounds: int) -> dict[str, float]:
    results: dict[str, float] = {}
    searches = {
        "rare phrase": {"q": f'"{needle}"'},
        "one service": {"service": "svc-07"},
        "level:error": {"q": "level:error"},
    }
    direct = httpx.Client(timeout=60)
    search = LogSearch(opensearch, "logs", None)  # type: ignore[arg-type]  # only .query
    for name, params in searches.items():
        url = f"{CONSOLE}/logs?{urlencode(params | {'from': 'now-24h'})}"
        loads = [_navigate(page, url) for _ in range(rounds + 1)][1:]
        results[f"log search {name}: page DOMContentLoaded p95 ms"] = round(
            _p([d for d, _ in loads], 0.95), 1
        )
        results[f"log search {name}: histogram drawn p95 ms"] = round(
            _p([c for _, c in loads], 0.95), 1
        )
        span = parse_range("now-24h", "now")
        filters = {k: v for k, v in params.items() if k != "q"}
        body = {
            "size": 100,
            "track_total_hits": True,
            "sort": [{"@timestamp": {"order": "desc", "unmapped_type": "date"}}],
            "query": search.query(params.get("q", ""), filters, span),
            "aggs": {
                "over_time": {
                    "date_histogram": {
                        "field": "@timestamp",
                        "fixed_interval": f"{span.interval(60)}s",
                        "min_doc_count": 0,
                    }
                }
            },
        }
        base = _timed(
            lambda b=body: direct.post(f"{opensearch}/logs-*/_search", json=b).raise_for_status(),
            rounds,
        )
        results[f"baseline: OpenSearch _search {name} p95 ms"] = round(_p(base, 0.95), 1)
        results[f"ratio log search {name} page to _search"] = round(
            results[f"log search {name}: page DOMContentLoaded p95 ms"] / max(_p(base, 0.95), 0.1),
            2,
        )
    direct.close()
    return results


def _dashboard(page: Any, influx: str, rounds: int) -> dict[str, float]:
    board = next(d for d in DASHBOARDS if d.name == "service")
    url = f"{CONSOLE}/metrics?dashboard=service&service=svc-07&from=now-24h"
    loads = [_navigate(page, url) for _ in range(rounds + 1)][1:]
    results = {
        "dashboard 24 h: DOMContentLoaded p95 ms": round(_p([d for d, _ in loads], 0.95), 1),
        "dashboard 24 h: every chart drawn p95 ms": round(_p([c for _, c in loads], 0.95), 1),
    }
    panel_ms: list[float] = []
    base_ms: list[float] = []
    direct = httpx.Client(timeout=60)
    span = parse_range("now-24h", "now")
    for index, panel in enumerate(board.panels):
        query = f"dashboard=service&panel={index}&service=svc-07&from=now-24h"

        def through_console(q: str = query, title: str = panel.title) -> None:
            answer = page.request.get(f"{CONSOLE}/metrics/panel?{q}").json()
            if answer.get("error") or not answer.get("times"):
                raise RuntimeError(f"panel {title}: {answer}")

        panel_ms += _timed(through_console, rounds)
        text = expand(panel.query, span, {"service": "svc-07"}, panel.min_interval)
        base_ms += _timed(
            lambda t=text: direct.get(
                f"{influx}/query", params={"db": "metrics", "q": t, "epoch": "ms"}
            ).raise_for_status(),
            rounds,
        )
    direct.close()
    results["dashboard 24 h: one panel's query via the console p95 ms"] = round(
        _p(panel_ms, 0.95), 1
    )
    results["baseline: the same InfluxQL straight to InfluxDB p95 ms"] = round(_p(base_ms, 0.95), 1)
    results["ratio panel query to InfluxDB"] = round(
        _p(panel_ms, 0.95) / max(_p(base_ms, 0.95), 0.1), 2
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000, help="log documents (24 h)")
    parser.add_argument("--services", type=int, default=20, help="services with metrics")
    parser.add_argument("--rounds", type=int, default=10, help="measurements of each")
    parser.add_argument(
        "--load-budget", type=float, default=420, help="seconds the log load may take at most"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # A `timeout` around the run stops it through the with-blocks: the stack goes down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {}
    needle = f"needle-{random.randrange(10**9):09d}"
    with StackDir(STACK) as stack, sync_playwright() as driver:
        up = stack.up(timeout=400)
        if up.code != 0:
            print(up.output, file=sys.stderr)
            return 1
        opensearch = f"http://{stack.instance('opensearch-1')['address']}:9200"
        influx = f"http://{stack.instance('influxdb-1')['address']}:8086"
        loaded, seconds = _load_logs(opensearch, args.docs, args.services, needle, args.load_budget)
        results["log documents loaded"] = loaded
        results["log load + refresh s"] = round(seconds, 1)
        results["log documents loaded per s"] = round(loaded / seconds)
        points, seconds = _load_metrics(influx, args.services)
        results["metric points loaded"] = points
        results["metric load s"] = round(seconds, 1)
        print(json.dumps(results), file=sys.stderr, flush=True)
        secrets = json.loads(stack.cli("secrets", "catalog", "--json").stdout)["catalog"]
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{CONSOLE}/login")
        page.fill("input[name=token]", secrets["management token"])
        page.click("button[type=submit]")
        page.wait_for_url(f"{CONSOLE}/")
        results |= _log_search(page, opensearch, needle, args.rounds)
        print(json.dumps(results), file=sys.stderr, flush=True)
        results |= _dashboard(page, influx, args.rounds)
        browser.close()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:62} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
