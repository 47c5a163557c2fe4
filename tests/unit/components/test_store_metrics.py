"""OpenSearch's node stats and InfluxDB's SHOW STATS as samples."""

from __future__ import annotations

from leapfrog.components._store_metrics import influxdb_stats_samples, opensearch_samples


def test_opensearch_node_stats_and_health() -> None:
    stats = {
        "nodes": {
            "abc": {
                "jvm": {"mem": {"heap_used_in_bytes": 100, "heap_max_in_bytes": 512}},
                "indices": {"docs": {"count": 7}, "indexing": {"index_total": 9}},
                "http": {"current_open": True},  # not a number: left out
            }
        }
    }
    health = {"status": "yellow", "active_shards": 3, "cluster_name": "x"}
    samples = {s.name: (s.value, dict(s.labels)) for s in opensearch_samples(stats, health)}
    assert samples["opensearch_jvm_mem_heap_used_in_bytes"] == (100.0, {})
    assert samples["opensearch_indices_docs_count"] == (7.0, {})
    assert samples["opensearch_indices_indexing_index_total"] == (9.0, {})
    assert samples["opensearch_cluster_active_shards"] == (3, {})
    assert samples["opensearch_cluster_status"] == (1.0, {"status": "yellow"})
    assert "opensearch_http_current_open" not in samples


def test_opensearch_garbage_gives_nothing() -> None:
    assert opensearch_samples("nope", None) == []
    assert opensearch_samples({"nodes": None}, []) == []


def test_influxdb_show_stats_kept_modules_with_tags() -> None:
    body = {
        "results": [
            {
                "series": [
                    {
                        "name": "database",
                        "tags": {"database": "metrics"},
                        "columns": ["numMeasurements", "numSeries"],
                        "values": [[3, 40]],
                    },
                    {"name": "shard", "columns": ["writePointsOk"], "values": [[5]]},
                    {"name": "runtime", "columns": ["HeapAlloc", "Sys"], "values": [[10, "x"]]},
                ]
            }
        ]
    }
    samples = [(s.name, s.value, dict(s.labels)) for s in influxdb_stats_samples(body)]
    assert samples == [
        ("influxdb_database_nummeasurements", 3.0, {"database": "metrics"}),
        ("influxdb_database_numseries", 40.0, {"database": "metrics"}),
        ("influxdb_runtime_heapalloc", 10.0, {}),
    ]
    assert influxdb_stats_samples({"error": "x"}) == []
