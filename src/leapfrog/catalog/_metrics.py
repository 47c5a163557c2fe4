"""/v1/agent/version and /v1/agent/metrics (Consul's JSON shape, or Prometheus text with
`?format=prometheus`), with the catalog's own gauges and counters.

Names follow Consul's where Consul has the metric (`consul.state.services`, ...) and are
`leapfrog.*` otherwise. Counters are totals since start (Consul's in-memory sink reports
per 10 s interval; a scraper computes rates from totals anyway).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leapfrog.catalog._api import Call, Reply, Route
from leapfrog.catalog._store import Store

__all__ = ["CONSUL_VERSION", "Metric", "collect", "metrics_routes", "prometheus_text"]

CONSUL_VERSION = "1.20.0"
"""The Consul version the catalog answers as (clients gate features on it)."""
_PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Metric:
    name: str
    value: float
    kind: str = "gauge"
    """gauge or counter."""
    labels: dict[str, str] = field(default_factory=dict)
    help: str = ""


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def collect(store: Store, requests_served: int) -> list[Metric]:
    counts = {"passing": 0, "warning": 0, "critical": 0}
    for check in store.checks.values():
        counts[check.status] += 1
    journal = store.log.journal
    metrics = [
        Metric("consul.state.nodes", 1, help="Nodes in the catalog"),
        Metric("consul.state.services", len(store.by_name), help="Distinct service names"),
        Metric("consul.state.service_instances", len(store.services), help="Service instances"),
        Metric("consul.state.kv_entries", len(store.kv.entries), help="KV keys"),
        Metric("consul.session_ttl.active", len(store.sessions.sessions), help="Sessions"),
    ]
    metrics += [
        Metric("leapfrog.catalog.checks", n, labels={"status": s}, help="Checks by status")
        for s, n in counts.items()
    ]
    metrics += [
        Metric(
            "leapfrog.catalog.blocking_queries",
            store.hub.watcher_count(),
            help="Blocking queries waiting now",
        ),
        Metric("leapfrog.process.rss_bytes", _rss_bytes(), help="Resident memory of the process"),
        Metric("leapfrog.http.requests", requests_served, "counter", help="HTTP requests served"),
        Metric(
            "leapfrog.journal.fsyncs",
            journal.fsyncs if journal is not None else 0,
            "counter",
            help="fsyncs of the journal (one per group commit)",
        ),
    ]
    return metrics


def _go_timestamp(now: float) -> str:
    interval = datetime.fromtimestamp(now - now % 10, UTC)  # the 10 s interval, as Consul's
    return interval.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def json_metrics(metrics: list[Metric], now: float) -> dict[str, Any]:
    gauges = [
        {"Name": m.name, "Value": m.value, "Labels": m.labels} for m in metrics if m.kind == "gauge"
    ]
    counters = [
        {
            "Name": m.name,
            "Count": int(m.value),
            "Rate": m.value,
            "Sum": m.value,
            "Min": 1,
            "Max": 1,
            "Mean": 1,
            "Stddev": 0,
            "Labels": m.labels,
        }
        for m in metrics
        if m.kind == "counter"
    ]
    return {
        "Timestamp": _go_timestamp(now),
        "Gauges": gauges,
        "Points": [],
        "Counters": counters,
        "Samples": [],
    }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def prometheus_text(metrics: list[Metric]) -> str:
    """The text exposition format: one HELP and TYPE per name, then its samples."""
    lines: list[str] = []
    described: set[str] = set()
    for metric in metrics:
        name = metric.name.replace(".", "_").replace("-", "_")
        if name not in described:
            described.add(name)
            lines.append(f"# HELP {name} {metric.help or metric.name}")
            lines.append(f"# TYPE {name} {metric.kind}")
        labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(metric.labels.items()))
        lines.append(
            f"{name}{{{labels}}} {_number(metric.value)}"
            if labels
            else f"{name} {_number(metric.value)}"
        )
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics_routes(store: Store, requests_served: Callable[[], int]) -> list[Route]:
    async def version(call: Call) -> Reply:
        return Reply({"SHA": "", "BuildDate": "", "HumanVersion": CONSUL_VERSION, "FIPS": ""})

    async def metrics(call: Call) -> Reply:
        collected = collect(store, requests_served())
        if call.params.get("format") == "prometheus":
            return Reply(raw=prometheus_text(collected).encode(), content_type=_PROMETHEUS)
        return Reply(json_metrics(collected, time.time()))

    get = ("GET",)
    return [
        Route(get, "/v1/agent/version", action=version),
        Route(get, "/v1/agent/metrics", action=metrics),
    ]
