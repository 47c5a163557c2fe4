"""Dashboards as data: each panel is an InfluxQL query with Grafana's macros
(`$timeFilter`, `$__interval`, `$__interval_ms`, `$service`) and, like a Grafana panel's
"min interval", the narrowest bucket it makes sense in. The console's Metrics page draws
them with uPlot; on Kubernetes the same definitions provision Grafana (`grafana_json`,
used by the console component's render).

Where the figures come from: the supervisor's per-instance figures (`leapfrog_instance_*`),
each component's own (`kafka_*`, `postgres_*`, `zookeeper_*`, `haproxy_*` from HAProxy's
stats CSV, `opensearch_*` from its node stats and cluster health, `influxdb_*` from
`SHOW STATS`), and Flink's per-service statistics (`service_stats`: requests, errors,
latency percentiles per service, route and window, from the load balancer's access
events). They sit with the components, below the console, so both can read them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DASHBOARDS", "Dashboard", "Panel", "dashboard"]


@dataclass(frozen=True)
class Panel:
    title: str
    query: str
    unit: str = ""
    """How values read: "" (a number), "bytes", "percent", "/s", "ms", "cores"."""
    min_interval: int = 0
    """The narrowest bucket in seconds (Grafana's "min interval"): 10 for figures written
    once per 10 s window, so a short range does not draw every other bucket empty."""


@dataclass(frozen=True)
class Dashboard:
    name: str
    title: str
    panels: tuple[Panel, ...]
    variable: str = ""
    """The one variable it takes (`service`), empty for none."""


def _per_instance(measurement: str, *, rate: bool = False, where: str = "") -> str:
    value = 'non_negative_derivative(last("value"), 1s)' if rate else 'last("value")'
    cond = f"{where} AND " if where else ""
    return (
        f'SELECT {value} FROM "{measurement}" WHERE {cond}$timeFilter '
        'GROUP BY time($__interval), "instance" fill(none)'
    )


_SERVICE = "\"service\" = '$service'"
_STATS_WINDOW = 10
"""The service-stats job's default window (flink `service_stats.window`)."""


def _stats(select: str, *, by_route: bool = False) -> str:
    """A query over Flink's `service_stats` for the chosen service."""
    group = ', "route"' if by_route else ""
    return (
        f'SELECT {select} FROM "service_stats" WHERE {_SERVICE} AND $timeFilter '
        f"GROUP BY time($__interval){group} fill(none)"
    )


def _component(measurement: str, *, rate: bool = False, by: str = "") -> str:
    """One figure of a component, per instance or per the given tag."""
    value = 'non_negative_derivative(last("value"), 1s)' if rate else 'last("value")'
    group = f'"{by}"' if by else '"instance"'
    return (
        f'SELECT {value} FROM "{measurement}" WHERE $timeFilter '
        f"GROUP BY time($__interval), {group} fill(none)"
    )


_STACK: tuple[Dashboard, ...] = (
    Dashboard(
        "service",
        "Service",
        (
            Panel(
                "Requests through the load balancer",
                _stats('sum("requests") * 1000 / $__interval_ms AS "requests"'),
                "/s",
                _STATS_WINDOW,
            ),
            Panel(
                "Errors (5xx) through the load balancer",
                _stats('sum("errors") * 100 / sum("requests") AS "errors"'),
                "percent",
                _STATS_WINDOW,
            ),
            Panel(
                "Latency by route",
                _stats(
                    'max("p50_ms") AS "p50", max("p95_ms") AS "p95", max("p99_ms") AS "p99"',
                    by_route=True,
                ),
                "ms",
                _STATS_WINDOW,
            ),
            Panel(
                "Requests (the service's own count)",
                _per_instance("http_requests_total", rate=True, where=_SERVICE),
                "/s",
            ),
            Panel(
                "CPU",
                _per_instance("leapfrog_instance_cpu_seconds_total", rate=True, where=_SERVICE),
                "cores",
            ),
            Panel("Memory", _per_instance("leapfrog_instance_rss_bytes", where=_SERVICE), "bytes"),
            Panel("Restarts", _per_instance("leapfrog_instance_restarts_total", where=_SERVICE)),
        ),
        variable="service",
    ),
    Dashboard(
        "platform",
        "Platform",
        (
            Panel(
                "CPU by instance",
                _per_instance("leapfrog_instance_cpu_seconds_total", rate=True),
                "cores",
            ),
            Panel("Memory by instance", _per_instance("leapfrog_instance_rss_bytes"), "bytes"),
            Panel(
                "Supervisor CPU",
                _per_instance("leapfrog_supervisor_cpu_seconds_total", rate=True),
                "cores",
            ),
            Panel(
                "Log events sent",
                _per_instance("leapfrog_telemetry_events_sent_total", rate=True),
                "/s",
            ),
        ),
    ),
    Dashboard(
        "kafka",
        "Kafka",
        (
            Panel(
                "Records written by topic",
                'SELECT non_negative_derivative(sum("value"), 1s) FROM "kafka_topic_end_offset" '
                'WHERE $timeFilter GROUP BY time($__interval), "topic" fill(none)',
                "/s",
            ),
            Panel(
                "Consumer lag",
                'SELECT last("value") FROM "kafka_consumer_group_lag" WHERE $timeFilter '
                'GROUP BY time($__interval), "group", "topic" fill(none)',
            ),
        ),
    ),
    Dashboard(
        "postgres",
        "PostgreSQL",
        (
            Panel(
                "Connections",
                'SELECT last("value") FROM "postgres_numbackends" WHERE $timeFilter '
                'GROUP BY time($__interval), "database" fill(none)',
            ),
            Panel(
                "Transactions",
                'SELECT non_negative_derivative(last("value"), 1s) '
                'FROM "postgres_xact_commit_total" WHERE $timeFilter '
                'GROUP BY time($__interval), "database" fill(none)',
                "/s",
            ),
        ),
    ),
    Dashboard(
        "zookeeper",
        "ZooKeeper",
        (
            Panel(
                "Average latency",
                'SELECT last("value") FROM "zookeeper_avg_latency" WHERE $timeFilter '
                "GROUP BY time($__interval) fill(none)",
                "ms",
            ),
        ),
    ),
)


_LB = "haproxy_backend_"
_COMPONENTS: tuple[Dashboard, ...] = (
    Dashboard(
        "lb",
        "Load balancer",
        (
            Panel(
                "Requests by backend",
                _component(_LB + "requests_total", rate=True, by="proxy"),
                "/s",
            ),
            Panel(
                "5xx responses by backend",
                _component(_LB + "responses_5xx_total", rate=True, by="proxy"),
                "/s",
            ),
            Panel(
                "Response time by backend (last 1024 requests)",
                _component(_LB + "response_time_ms", by="proxy"),
                "ms",
            ),
            Panel("Current sessions by backend", _component(_LB + "sessions_current", by="proxy")),
            Panel(
                "Servers up",
                'SELECT last("value") FROM "haproxy_server_up" WHERE $timeFilter '
                'GROUP BY time($__interval), "proxy", "server" fill(none)',
            ),
            Panel("Queued requests", _component(_LB + "queue_current", by="proxy")),
        ),
    ),
    Dashboard(
        "opensearch",
        "OpenSearch",
        (
            Panel(
                "Cluster status (0 green, 1 yellow, 2 red)",
                _component("opensearch_cluster_status"),
            ),
            Panel("Documents", _component("opensearch_indices_docs_count")),
            Panel(
                "Indexing", _component("opensearch_indices_indexing_index_total", rate=True), "/s"
            ),
            Panel("Searches", _component("opensearch_indices_search_query_total", rate=True), "/s"),
            Panel("JVM heap used", _component("opensearch_jvm_mem_heap_used_in_bytes"), "bytes"),
            Panel("Store size", _component("opensearch_indices_store_size_in_bytes"), "bytes"),
        ),
    ),
    Dashboard(
        "influxdb",
        "InfluxDB",
        (
            Panel("Points written", _component("influxdb_write_pointreq", rate=True), "/s"),
            Panel("Write errors", _component("influxdb_write_writeerr", rate=True), "/s"),
            Panel("Queries", _component("influxdb_queryexecutor_queriesexecuted", rate=True), "/s"),
            Panel("HTTP requests", _component("influxdb_httpd_req", rate=True), "/s"),
            Panel("Heap in use", _component("influxdb_runtime_heapinuse"), "bytes"),
            Panel("Series by database", _component("influxdb_database_numseries", by="database")),
        ),
    ),
)
DASHBOARDS: tuple[Dashboard, ...] = (*_STACK, *_COMPONENTS)


def dashboard(name: str) -> Dashboard | None:
    return next((d for d in DASHBOARDS if d.name == name), None)
