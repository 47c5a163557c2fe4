"""Durable state: registrations, check states, KV and indexes survive a restart."""

from __future__ import annotations

from pathlib import Path

import consul
import pytest

from tests.integration.catalog.conftest import CatalogProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_restart_keeps_everything_and_indexes_keep_rising(tmp_path: Path) -> None:
    proc = CatalogProcess(tmp_path / "data")
    proc.start()
    try:
        c = proc.client()
        c.agent.service.register(
            "keep", service_id="keep1", port=81, tags=["t"], check=consul.Check.ttl("60s")
        )
        c.agent.check.ttl_warn("service:keep1", "degraded")
        c.kv.put("conf/a", "1", flags=9)
        c.agent.service.register("dropped", service_id="d1")
        c.agent.service.deregister("d1")
        service_index, before = c.health.service("keep")
        dropped_index, _ = c.health.service("dropped")
        kv_index, _ = c.kv.get("conf/", recurse=True)
    finally:
        assert proc.stop() == 0
    proc.start()
    try:
        c = proc.client()
        index, after = c.health.service("keep")
        assert index == service_index
        assert after == before
        assert after[0]["Checks"][1]["Status"] == "warning"
        assert c.health.service("dropped")[0] == dropped_index
        index, (entry,) = c.kv.get("conf/", recurse=True)
        assert (index, entry["Value"], entry["Flags"]) == (kv_index, b"1", 9)
        c.kv.put("conf/b", "2")
        assert int(c.kv.get("conf/", recurse=True)[0]) > int(kv_index)
        assert int(c.kv.get("conf/", recurse=True)[0]) > int(service_index)
    finally:
        assert proc.stop() == 0
