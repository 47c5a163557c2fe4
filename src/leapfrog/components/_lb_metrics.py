"""The load balancer's figures: HAProxy's stats page as CSV (per frontend, backend and
server: sessions, rates, errors, queue, latency), nginx's stub_status."""

from __future__ import annotations

import csv
import io

import httpx

from leapfrog.telemetry import Sample

__all__ = ["haproxy_samples", "nginx_samples", "stats_samples"]

# CSV column -> measurement, for every row (frontend, backend, server).
_COLUMNS = {
    "scur": "sessions_current",
    "stot": "sessions_total",
    "rate": "session_rate",
    "req_rate": "request_rate",
    "req_tot": "requests_total",
    "bin": "bytes_in_total",
    "bout": "bytes_out_total",
    "ereq": "request_errors_total",
    "econ": "connection_errors_total",
    "eresp": "response_errors_total",
    "wretr": "retries_total",
    "wredis": "redispatches_total",
    "qcur": "queue_current",
    "qmax": "queue_max",
    "qtime": "queue_time_ms",
    "ctime": "connect_time_ms",
    "rtime": "response_time_ms",
    "ttime": "total_time_ms",
    "hrsp_2xx": "responses_2xx_total",
    "hrsp_4xx": "responses_4xx_total",
    "hrsp_5xx": "responses_5xx_total",
    "chkfail": "check_failures_total",
}
_KINDS = {"0": "frontend", "1": "backend", "2": "server", "3": "listener"}


def haproxy_samples(csv_text: str) -> list[Sample]:
    """HAProxy's `show stat` CSV (the stats page with `;csv`) as samples."""
    text = csv_text.lstrip("# ")
    samples: list[Sample] = []
    for row in csv.DictReader(io.StringIO(text)):
        kind = _KINDS.get(row.get("type", ""), "")
        if kind not in ("frontend", "backend", "server") or row.get("pxname") == "stats":
            continue
        labels = {"proxy": row.get("pxname", "")}
        if kind == "server":
            labels["server"] = row.get("svname", "")
        for column, name in _COLUMNS.items():
            value = row.get(column, "")
            if value and value.lstrip("-").isdigit():
                samples.append(Sample(f"haproxy_{kind}_{name}", float(value), labels))
        if kind != "frontend":
            up = row.get("status", "").startswith("UP")
            samples.append(Sample(f"haproxy_{kind}_up", float(up), labels))
    return samples


def nginx_samples(text: str) -> list[Sample]:
    """nginx's stub_status page."""
    lines = text.splitlines()
    samples: list[Sample] = []
    if lines and lines[0].startswith("Active connections:"):
        samples.append(Sample("nginx_connections_active", float(lines[0].split(":")[1])))
    if len(lines) > 2:
        numbers = lines[2].split()
        for name, value in zip(("accepted", "handled", "requests"), numbers, strict=False):
            samples.append(Sample(f"nginx_{name}_total", float(value)))
    return samples


async def stats_samples(engine: str, stats: str) -> list[Sample]:
    path = "/;csv;norefresh" if engine == "haproxy" else "/"
    async with httpx.AsyncClient(timeout=5.0) as client:
        response = await client.get(f"http://{stats}{path}")
        response.raise_for_status()
    return haproxy_samples(response.text) if engine == "haproxy" else nginx_samples(response.text)
