"""catalog/register, catalog/deregister and catalog/node-services against the real server,
through py-consul where it has the call."""

from __future__ import annotations

import json
import urllib.request

import consul
import pytest

from tests.integration.catalog.conftest import CatalogProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_py_consul_catalog_register_and_deregister(
    c: consul.Consul, catalog_proc: CatalogProcess
) -> None:
    service = {"Service": "ext-db", "ID": "ext-db1", "Port": 5432, "Tags": ["primary"]}
    check = {"CheckID": "ext-db-ok", "Name": "db", "ServiceID": "ext-db1", "Status": "passing"}
    assert c.catalog.register("itest", "127.0.0.1", service=service, check=check) is True
    _, nodes = c.health.service("ext-db", passing=True)
    assert [n["Service"]["ID"] for n in nodes] == ["ext-db1"]
    url = f"http://127.0.0.1:{catalog_proc.port}/v1/catalog/node-services/itest"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert int(response.headers["X-Consul-Index"]) >= 1
        listing = json.loads(response.read())
    assert "ext-db1" in [s["ID"] for s in listing["Services"]]
    with pytest.raises(consul.ConsulException, match="Cannot register node"):
        c.catalog.register("elsewhere", "10.0.0.9", service=service)
    assert c.catalog.deregister("itest", check_id="ext-db-ok") is True
    assert c.catalog.deregister("itest", service_id="ext-db1") is True
    assert c.health.service("ext-db")[1] == []


def test_catalog_register_needs_the_token_with_acl(acl_proc: CatalogProcess) -> None:
    service = {"Service": "acl-ext"}
    with pytest.raises(consul.ACLPermissionDenied):
        acl_proc.client().catalog.register("itest", "127.0.0.1", service=service)
    admin = acl_proc.client(token="management-secret")
    assert admin.catalog.register("itest", "127.0.0.1", service=service) is True
    assert admin.catalog.deregister("itest", service_id="acl-ext") is True
