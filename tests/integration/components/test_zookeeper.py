"""The ZooKeeper component against the real server: kazoo, the AdminServer, restart."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient

from leapfrog.testing import RunningComponent, run_component, scratch_dir

ADDRESS = "127.0.0.22"
ADMIN_PORT = 8089


@pytest.fixture(scope="module")
def zookeeper() -> Iterator[RunningComponent]:
    with scratch_dir("lf-zookeeper-") as base:
        options = {"admin_port": ADMIN_PORT}
        with run_component("zookeeper", options, base, address=ADDRESS) as running:
            yield running


def client(zookeeper: RunningComponent) -> KazooClient:
    made = KazooClient(hosts=zookeeper.env()["ZOOKEEPER_CONNECT"], timeout=10)
    made.start(timeout=30)
    return made


@pytest.mark.timeout(120)
def test_kazoo_creates_and_reads_znodes(zookeeper: RunningComponent) -> None:
    path = f"/test/{uuid.uuid4().hex[:8]}"
    zk = client(zookeeper)
    try:
        zk.create(path, b"hello", makepath=True)
        data, stat = zk.get(path)
        assert data == b"hello"
        assert stat.version == 0
        assert path.rsplit("/", 1)[1] in zk.get_children("/test")
    finally:
        zk.stop()
        zk.close()


@pytest.mark.timeout(60)
def test_the_admin_server_answers_on_the_instance_address(zookeeper: RunningComponent) -> None:
    url = f"http://{ADDRESS}:{ADMIN_PORT}/commands/ruok"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["command"] == "ruok"
    assert answer["error"] is None


@pytest.mark.timeout(60)
def test_health_says_mode_and_znode_count(zookeeper: RunningComponent) -> None:
    health = zookeeper.health()
    assert health.ok
    assert health.detail.startswith("standalone, ")
    assert health.detail.endswith(" znodes")


@pytest.mark.timeout(300)
def test_znodes_survive_a_restart(zookeeper: RunningComponent) -> None:
    path = f"/keep-{uuid.uuid4().hex[:8]}"
    zk = client(zookeeper)
    try:
        zk.create(path, b"kept")
    finally:
        zk.stop()
        zk.close()
    assert zookeeper.stop() is not None
    assert not zookeeper.health().ok
    zookeeper.start()
    zk = client(zookeeper)
    try:
        assert zk.get(path)[0] == b"kept"
    finally:
        zk.stop()
        zk.close()
