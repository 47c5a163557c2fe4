"""Sessions and locks the Consul way, driven by the real py-consul client."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import consul
import pytest
from consul.exceptions import ACLPermissionDenied, ConsulException, NotFound

from tests.integration.catalog.conftest import CatalogProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_two_sessions_compete_for_one_lock(c: consul.Consul) -> None:
    a = c.session.create(name="a", lock_delay=0)
    b = c.session.create(name="b", lock_delay=0)
    assert c.kv.put("elect/leader", "a", acquire=a) is True
    assert c.kv.put("elect/leader", "b", acquire=b) is False
    _, entry = c.kv.get("elect/leader")
    assert (entry["Session"], entry["LockIndex"], entry["Value"]) == (a, 1, b"a")
    assert c.kv.put("elect/leader", "b", release=b) is False
    assert c.kv.put("elect/leader", "a-out", release=a) is True
    _, entry = c.kv.get("elect/leader")
    assert "Session" not in entry
    assert c.kv.put("elect/leader", "b", acquire=b) is True
    _, entry = c.kv.get("elect/leader")
    assert (entry["Session"], entry["LockIndex"]) == (b, 2)
    assert c.session.destroy(a) and c.session.destroy(b)


def test_unknown_session_is_consuls_500(c: consul.Consul) -> None:
    with pytest.raises(ConsulException, match='invalid session "no-such"'):
        c.kv.put("elect/x", "v", acquire="no-such")


def test_info_list_node_and_renew_shapes(c: consul.Consul) -> None:
    sid = c.session.create(name="shape", ttl=30, behavior="delete")
    _, info = c.session.info(sid)
    assert info == {
        "ID": sid,
        "Name": "shape",
        "Node": "itest",
        "LockDelay": 15_000_000_000,
        "Behavior": "delete",
        "TTL": "30s",
        "NodeChecks": ["serfHealth"],
        "ServiceChecks": None,
        "CreateIndex": info["CreateIndex"],
        "ModifyIndex": info["CreateIndex"],
    }
    index, listed = c.session.list()
    assert info in listed and int(index) >= info["CreateIndex"]
    assert info in c.session.node("itest")[1]
    assert c.session.node("elsewhere")[1] == []
    assert c.session.renew(sid) == info
    assert c.session.destroy(sid)
    assert c.session.info(sid)[1] is None
    with pytest.raises(NotFound, match=f"Session id '{sid}' not found"):
        c.session.renew(sid)


def test_delete_behavior_removes_the_key(c: consul.Consul) -> None:
    sid = c.session.create(behavior="delete")
    assert c.kv.put("eph/key", "x", acquire=sid)
    assert c.session.destroy(sid)
    assert c.kv.get("eph/key")[1] is None


def test_blocking_watcher_is_woken_by_an_acquire(c: consul.Consul) -> None:
    c.kv.put("watched/lock", "")
    index, _ = c.kv.get("watched/lock")
    seen: list[Any] = []
    watcher = threading.Thread(
        target=lambda: seen.append(c.kv.get("watched/lock", index=index, wait="20s"))
    )
    watcher.start()
    time.sleep(0.2)
    sid = c.session.create(lock_delay=0)
    assert c.kv.put("watched/lock", "me", acquire=sid)
    watcher.join(timeout=10)
    assert not watcher.is_alive()
    assert seen[0][1]["Session"] == sid
    c.session.destroy(sid)


def test_ttl_expiry_releases_the_lock(c: consul.Consul) -> None:
    """Consul waits twice the TTL: the 10s minimum expires after 20s without renewal."""
    sid = c.session.create(ttl=10, lock_delay=0)
    assert c.kv.put("ttl/lock", "held", acquire=sid)
    started = time.monotonic()
    index, entry = c.kv.get("ttl/lock")
    while "Session" in entry:
        assert time.monotonic() - started < 40, "the TTL session never expired"
        index, entry = c.kv.get("ttl/lock", index=index, wait="30s")
    assert entry["Value"] == b"held"
    assert c.session.info(sid)[1] is None
    other = c.session.create(lock_delay=0)
    assert c.kv.put("ttl/lock", "next", acquire=other)
    c.session.destroy(other)


def test_acl_needs_the_token_for_session_writes(acl_proc: CatalogProcess) -> None:
    anonymous, admin = acl_proc.client(), acl_proc.client(token="management-secret")
    with pytest.raises(ACLPermissionDenied):
        anonymous.session.create()
    sid = admin.session.create(lock_delay=0)
    with pytest.raises(ACLPermissionDenied):
        anonymous.kv.put("acl/lock", "x", acquire=sid)
    with pytest.raises(ACLPermissionDenied):
        anonymous.session.renew(sid)
    with pytest.raises(ACLPermissionDenied):
        anonymous.session.destroy(sid)
    assert anonymous.session.list()[1] == []  # default-deny: listed for nobody
    assert sid in [s["ID"] for s in admin.session.list()[1]]
    assert admin.kv.put("acl/lock", "x", acquire=sid)
    assert admin.session.destroy(sid)


def test_sessions_and_locks_survive_a_restart(tmp_path: Path) -> None:
    proc = CatalogProcess(tmp_path / "data")
    proc.start()
    try:
        c = proc.client()
        sid = c.session.create(name="durable", ttl=60)
        assert c.kv.put("durable/lock", "v", acquire=sid)
        _, before = c.session.info(sid)
        index_before, entry_before = c.kv.get("durable/lock")
    finally:
        assert proc.stop() == 0
    proc.start()
    try:
        c = proc.client()
        assert c.session.info(sid)[1] == before
        index, entry = c.kv.get("durable/lock")
        assert (index, entry) == (index_before, entry_before)
        assert entry["Session"] == sid
        assert c.session.renew(sid)["ID"] == sid
        assert c.kv.put("durable/lock", "w", release=sid)
        assert int(c.kv.get("durable/lock")[0]) > int(index_before)
    finally:
        assert proc.stop() == 0
