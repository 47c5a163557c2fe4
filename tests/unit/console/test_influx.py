from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from leapfrog.components.dashboards import DASHBOARDS
from leapfrog.console._errors import Unavailable, UserError
from leapfrog.console._influx import InfluxClient, expand
from leapfrog.console._timerange import parse_range


def _client(answer: dict[str, Any] | Exception) -> tuple[InfluxClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(200, json=answer)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return InfluxClient("http://influx:8086", "metrics", http), seen


def test_expand_fills_grafana_macros_and_quotes_variables() -> None:
    span = parse_range("2026-01-01T00:00Z", "2026-01-01T02:00Z")
    text = expand(
        "SELECT x FROM m WHERE s = '$service' AND $timeFilter GROUP BY time($__interval)",
        span,
        {"service": "it's"},
    )
    assert "s = 'it\\'s'" in text
    assert "time >= 1767225600000ms AND time <= 1767232800000ms" in text
    assert "GROUP BY time(60s)" in text


def test_every_panel_is_bounded_by_the_time_range() -> None:
    for board in DASHBOARDS:
        for panel in board.panels:
            assert "$timeFilter" in panel.query and panel.query.startswith("SELECT")


def test_series_become_aligned_columns() -> None:
    answer = {
        "results": [
            {
                "series": [
                    {
                        "name": "m",
                        "tags": {"instance": "a"},
                        "columns": ["time", "last"],
                        "values": [[1000, 1.0], [2000, 2.0]],
                    },
                    {
                        "name": "m",
                        "tags": {"instance": "b"},
                        "columns": ["time", "last"],
                        "values": [[2000, 5.0], [3000, None]],
                    },
                ]
            }
        ]
    }
    client, seen = _client(answer)
    chart = asyncio.run(client.chart("SELECT last(value) FROM m"))
    assert chart.times == [1.0, 2.0, 3.0]
    assert chart.series == [("instance=a", [1.0, 2.0, None]), ("instance=b", [None, 5.0, None])]
    assert chart.points == 3
    assert seen[0].method == "GET" and seen[0].url.params["db"] == "metrics"


@pytest.mark.parametrize(
    "query", ["DROP DATABASE metrics", "SELECT 1; DROP DATABASE x", "DELETE FROM m"]
)
def test_only_one_read_statement_runs(query: str) -> None:
    client, seen = _client({"results": []})
    with pytest.raises(UserError, match="only one SELECT or SHOW"):
        asyncio.run(client.raw(query))
    assert not seen


def test_influx_errors_and_outages_are_sentences() -> None:
    client, _ = _client({"results": [{"error": "error parsing query: found EOF"}]})
    with pytest.raises(UserError, match="error parsing query"):
        asyncio.run(client.raw("SELECT"))
    down, _ = _client(httpx.ConnectError("refused"))
    with pytest.raises(Unavailable, match="does not answer"):
        asyncio.run(down.raw("SHOW DATABASES"))
    none = InfluxClient(None, "metrics", httpx.AsyncClient())
    with pytest.raises(Unavailable, match="no InfluxDB"):
        asyncio.run(none.raw("SHOW DATABASES"))


def test_a_show_statement_is_a_table_not_a_chart() -> None:
    answer = {
        "results": [
            {
                "series": [
                    {"name": "measurements", "columns": ["name"], "values": [["cpu"], ["mem"]]}
                ]
            }
        ]
    }
    client, _ = _client(answer)
    assert asyncio.run(client.raw("SHOW MEASUREMENTS"))[0]["values"] == [["cpu"], ["mem"]]
    assert asyncio.run(client.chart("SHOW MEASUREMENTS")).points == 0


def test_a_panels_min_interval_widens_the_buckets() -> None:
    span = parse_range("2026-01-01T00:00Z", "2026-01-01T00:15Z")  # 7 s buckets by default
    text = expand("GROUP BY time($__interval) / $__interval_ms", span, {}, min_interval=10)
    assert text == "GROUP BY time(10s) / 10000"
    assert expand("$__interval $__interval_ms", span, {}) == "7s 7000"


def test_the_service_dashboard_reads_flinks_statistics_per_window() -> None:
    service = next(d for d in DASHBOARDS if d.name == "service")
    stats = [p for p in service.panels if '"service_stats"' in p.query]
    assert [p.title for p in stats][:3] == [
        "Requests through the load balancer",
        "Errors (5xx) through the load balancer",
        "Latency by route",
    ]
    assert all(p.min_interval == 10 and "'$service'" in p.query for p in stats)
    assert {d.name for d in DASHBOARDS} >= {"lb", "opensearch", "influxdb"}


def test_a_chart_spans_the_range_asked_for() -> None:
    from leapfrog.console._influx import Chart

    chart = Chart([100.0], [("a", [1.0])]).spanning(40.0, 160.0)
    assert chart.times == [40.0, 100.0, 160.0]
    assert chart.series == [("a", [None, 1.0, None])]
    assert chart.points == 1
    assert Chart([], []).spanning(0.0, 1.0).times == []
    inside = Chart([0.0, 1.0], [("a", [1.0, 2.0])]).spanning(0.0, 1.0)
    assert inside.times == [0.0, 1.0]


def test_tag_values_list_a_tag_and_are_empty_when_influxdb_is_not_there() -> None:
    answer = {
        "results": [
            {
                "series": [
                    {
                        "name": "leapfrog_instance_rss_bytes",
                        "columns": ["key", "value"],
                        "values": [["service", "svc-01"], ["service", "web"]],
                    }
                ]
            }
        ]
    }
    client, seen = _client(answer)
    assert asyncio.run(client.tag_values("leapfrog_instance_rss_bytes", "service")) == {
        "svc-01",
        "web",
    }
    assert 'WITH KEY = "service"' in seen[0].url.params["q"]
    down, _ = _client(httpx.ConnectError("refused"))
    assert asyncio.run(down.tag_values("m", "service")) == set()
    assert asyncio.run(InfluxClient(None, "x", httpx.AsyncClient()).tag_values("m", "k")) == set()
