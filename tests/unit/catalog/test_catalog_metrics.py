"""/v1/agent/version and /v1/agent/metrics in process: Consul's shapes, real numbers."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from catalog_fakes import call, make_api, make_store

from leapfrog.catalog._metrics import Metric, prometheus_text


def test_version_answers_consuls_shape() -> None:
    async def main() -> None:
        response = await call(make_api(make_store()), "GET", "/v1/agent/version")
        version = json.loads(response.body)
        assert set(version) == {"SHA", "BuildDate", "HumanVersion", "FIPS"}
        assert re.fullmatch(r"\d+\.\d+\.\d+", version["HumanVersion"])

    asyncio.run(main())


def test_metrics_count_the_catalog(tmp_path: Path) -> None:
    async def main() -> None:
        store = make_store(tmp_path)
        api = make_api(store)
        body = {"Name": "web", "ID": "w1", "Check": {"TTL": "10s", "Status": "passing"}}
        await call(api, "PUT", "/v1/agent/service/register", json.dumps(body).encode())
        await call(api, "PUT", "/v1/agent/service/register", b'{"Name": "web", "ID": "w2"}')
        await call(api, "PUT", "/v1/kv/a", b"1")
        waiting = asyncio.ensure_future(call(api, "GET", "/v1/kv/a?index=999999&wait=5s"))
        await asyncio.sleep(0.01)
        response = await call(api, "GET", "/v1/agent/metrics")
        metrics = json.loads(response.body)
        assert set(metrics) == {"Timestamp", "Gauges", "Points", "Counters", "Samples"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d0 \+0000 UTC", metrics["Timestamp"])
        gauges = {(g["Name"], g["Labels"].get("status")): g["Value"] for g in metrics["Gauges"]}
        assert gauges[("consul.state.services", None)] == 1
        assert gauges[("consul.state.service_instances", None)] == 2
        assert gauges[("consul.state.kv_entries", None)] == 1
        assert gauges[("leapfrog.catalog.checks", "passing")] == 2  # serfHealth and w1's
        assert gauges[("leapfrog.catalog.checks", "critical")] == 0
        assert gauges[("leapfrog.catalog.blocking_queries", None)] == 1
        assert gauges[("leapfrog.process.rss_bytes", None)] > 1_000_000
        counters = {c["Name"]: c["Count"] for c in metrics["Counters"]}
        assert counters["leapfrog.http.requests"] == 5
        assert counters["leapfrog.journal.fsyncs"] >= 1
        waiting.cancel()
        assert store.log.journal is not None
        await store.log.journal.close()

    asyncio.run(main())


def test_prometheus_format() -> None:
    async def main() -> None:
        response = await call(make_api(make_store()), "GET", "/v1/agent/metrics?format=prometheus")
        assert response.content_type.startswith("text/plain; version=0.0.4")
        text = response.body.decode()
        assert (
            "# TYPE consul_state_service_instances gauge\nconsul_state_service_instances 0\n"
            in text
        )
        assert 'leapfrog_catalog_checks{status="passing"} 1\n' in text
        assert "# TYPE leapfrog_http_requests counter\nleapfrog_http_requests 1\n" in text

    asyncio.run(main())


def test_prometheus_text_describes_each_name_once_and_escapes_labels() -> None:
    metrics = [
        Metric("a.b", 1, labels={"k": 'q"\\'}, help="A"),
        Metric("a.b", 2.5, labels={"k": "x"}, help="A"),
    ]
    assert prometheus_text(metrics) == (
        '# HELP a_b A\n# TYPE a_b gauge\na_b{k="q\\"\\\\"} 1\na_b{k="x"} 2.5\n'
    )
