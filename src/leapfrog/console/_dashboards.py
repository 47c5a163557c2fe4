"""Dashboards as data: each panel is an InfluxQL query with Grafana's macros
(`$timeFilter`, `$__interval`, `$service`), so the same definitions could provision a
Grafana; the Metrics page draws them with uPlot."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DASHBOARDS", "Dashboard", "Panel", "dashboard"]


@dataclass(frozen=True)
class Panel:
    title: str
    query: str
    unit: str = ""
    """How values read: "" (a number), "bytes", "percent", "/s"."""


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

DASHBOARDS: tuple[Dashboard, ...] = (
    Dashboard(
        "service",
        "Service",
        (
            Panel(
                "Requests", _per_instance("http_requests_total", rate=True, where=_SERVICE), "/s"
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


def dashboard(name: str) -> Dashboard | None:
    return next((d for d in DASHBOARDS if d.name == name), None)
