"""Aggregated agent health and /v1/agent/service/<id> against the real server (py-consul
1.8 has no call for them: raw HTTP, as a load balancer would ask)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import consul
import pytest

from tests.integration.catalog.conftest import CatalogProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_aggregated_health_codes(c: consul.Consul, catalog_proc: CatalogProcess) -> None:
    check = consul.Check.ttl("30s")
    c.agent.service.register("lbsvc", service_id="lb1", check=check)
    port = catalog_proc.port
    status, _, body = get(port, "/v1/agent/health/service/id/lb1?format=text")
    assert (status, body) == (503, b"critical")  # a new TTL check starts critical
    c.agent.check.ttl_warn("service:lb1")
    assert get(port, "/v1/agent/health/service/name/lbsvc?format=text")[:3:2] == (429, b"warning")
    c.agent.check.ttl_pass("service:lb1")
    status, headers, body = get(port, "/v1/agent/health/service/name/lbsvc")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert [i["Service"]["ID"] for i in json.loads(body)] == ["lb1"]
    assert get(port, "/v1/agent/health/service/id/nope")[0] == 404


def test_agent_service_shape_and_hash(c: consul.Consul, catalog_proc: CatalogProcess) -> None:
    c.agent.service.register("hashsvc", service_id="h1", port=9, tags=["t"])
    status, headers, body = get(catalog_proc.port, "/v1/agent/service/h1")
    rendered = json.loads(body)
    assert status == 200 and headers["X-Consul-ContentHash"] == rendered["ContentHash"]
    assert (rendered["Service"], rendered["Port"], rendered["Tags"]) == ("hashsvc", 9, ["t"])
    same = get(catalog_proc.port, f"/v1/agent/service/h1?hash={rendered['ContentHash']}&wait=50ms")
    assert json.loads(same[2])["ContentHash"] == rendered["ContentHash"]
