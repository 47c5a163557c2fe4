"""The figures OpenSearch and InfluxDB report about themselves, as samples.

OpenSearch: the local node's stats (`/_nodes/_local/stats`) and the cluster health.
InfluxDB 1.x: `SHOW STATS`, the same counters its `_internal` database would keep.
Both are pure functions of the decoded JSON, so they are tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from leapfrog.telemetry import Sample, metric_name

__all__ = ["INFLUXDB_STATS", "influxdb_stats_samples", "opensearch_samples"]

_OPENSEARCH_PATHS: tuple[tuple[str, ...], ...] = (
    ("jvm", "mem", "heap_used_in_bytes"),
    ("jvm", "mem", "heap_max_in_bytes"),
    ("jvm", "threads", "count"),
    ("process", "cpu", "percent"),
    ("process", "open_file_descriptors"),
    ("indices", "docs", "count"),
    ("indices", "docs", "deleted"),
    ("indices", "store", "size_in_bytes"),
    ("indices", "indexing", "index_total"),
    ("indices", "indexing", "index_failed"),
    ("indices", "indexing", "index_time_in_millis"),
    ("indices", "search", "query_total"),
    ("indices", "search", "query_time_in_millis"),
    ("indices", "refresh", "total"),
    ("indices", "merges", "total"),
    ("indices", "segments", "count"),
    ("http", "current_open"),
    ("http", "total_opened"),
)
_HEALTH_FIELDS = (
    "number_of_nodes",
    "active_primary_shards",
    "active_shards",
    "relocating_shards",
    "initializing_shards",
    "unassigned_shards",
    "number_of_pending_tasks",
)
_STATUS = {"green": 0.0, "yellow": 1.0, "red": 2.0}

INFLUXDB_STATS = frozenset({"runtime", "httpd", "write", "queryExecutor", "database"})
"""The `SHOW STATS` modules kept: memory and goroutines, the HTTP API, writes, queries,
and per database its series and measurements (per-shard figures are left out)."""


def opensearch_samples(node_stats: Any, health: Any) -> list[Sample]:
    """`node_stats`: the body of `/_nodes/_local/stats`; `health`: of `/_cluster/health`."""
    samples: list[Sample] = []
    nodes = node_stats.get("nodes") if isinstance(node_stats, dict) else None
    for node in (nodes or {}).values():
        for path in _OPENSEARCH_PATHS:
            value = _dig(node, path)
            if _is_number(value):
                samples.append(Sample(metric_name("opensearch", *path), float(value)))
    if isinstance(health, dict):
        for name in _HEALTH_FIELDS:
            if _is_number(health.get(name)):
                samples.append(Sample(metric_name("opensearch_cluster", name), health[name]))
        status = health.get("status")
        if status in _STATUS:
            samples.append(Sample("opensearch_cluster_status", _STATUS[status], {"status": status}))
    return samples


def influxdb_stats_samples(body: Any) -> list[Sample]:
    """The body of `/query?q=SHOW STATS`: one sample per numeric column of each kept module,
    its tags (`database`, `bind`...) as labels."""
    return list(_influx_samples(body))


def _influx_samples(body: Any) -> Iterator[Sample]:
    results = body.get("results") if isinstance(body, dict) else None
    for result in results or []:
        for series in result.get("series") or []:
            module = series.get("name")
            if module not in INFLUXDB_STATS:
                continue
            tags = _labels(series.get("tags"))
            for row in series.get("values") or []:
                for column, value in zip(series.get("columns") or [], row, strict=False):
                    if _is_number(value):
                        yield Sample(metric_name("influxdb", module, column), float(value), tags)


def _labels(tags: Any) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        return {}
    return {str(k): str(v) for k, v in tags.items() if v not in (None, "")}


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
