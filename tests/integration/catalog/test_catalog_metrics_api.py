"""py-consul's agent.metrics (JSON and Prometheus) and /v1/agent/version against the real
server."""

from __future__ import annotations

import json
import urllib.request

import consul
import pytest

from tests.integration.catalog.conftest import CatalogProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_metrics_json_and_prometheus(c: consul.Consul) -> None:
    c.kv.put("metrics/k", "v")
    metrics = c.agent.metrics()
    counters = {m["Name"]: m["Count"] for m in metrics["Counters"]}
    assert counters["leapfrog.http.requests"] >= 2
    assert counters["leapfrog.journal.fsyncs"] >= 1
    gauges = {m["Name"] for m in metrics["Gauges"]}
    assert {"consul.state.kv_entries", "leapfrog.process.rss_bytes"} <= gauges
    text = c.agent.metrics(format_prometheus=True)
    assert "# TYPE leapfrog_journal_fsyncs counter" in text
    assert "consul_state_kv_entries " in text


def test_version(catalog_proc: CatalogProcess) -> None:
    url = f"http://127.0.0.1:{catalog_proc.port}/v1/agent/version"
    with urllib.request.urlopen(url, timeout=10) as answer:
        version = json.loads(answer.read())
    assert version["HumanVersion"] == catalog_proc.client().agent.self()["Config"]["Version"]
