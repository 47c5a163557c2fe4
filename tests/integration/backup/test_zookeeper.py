"""The ZooKeeper driver against the real ZooKeeper 3.9: round trip through a wiped data
directory (ephemeral nodes left out), verify by restore and a corrupt byte named, the
snapshot rate limit reported, a server that is down, kill -9 of the backup mid-run, and
nothing to choose (a snapshot is always the whole tree)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kazoo.client import KazooClient

from leapfrog.backup import DirectoryStorage, Engine, Store, driver_for
from leapfrog.backup._zk_tree import server_tree
from leapfrog.components.zookeeper import DATA
from leapfrog.shared.errors import LeapfrogError
from leapfrog.testing import RunningComponent, free_port, run_component, scratch_dir

from .conftest import (
    assert_killed_run_is_failed_and_the_next_succeeds,
    kill_9_mid_run,
    one_byte_flipped,
    own_component,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ADDRESS = "127.0.0.59"
RATE_LIMIT_MS = 60_000  # one snapshot a minute: the module takes one, then is refused


@pytest.fixture(scope="module")
def zk() -> Iterator[RunningComponent]:
    with scratch_dir("lf-backup-zk-") as base:
        options = {"port": 2189, "admin_port": 8097, "snapshot_interval_ms": RATE_LIMIT_MS}
        with run_component("zookeeper", options, base, address=ADDRESS) as running:
            yield running


def make_engine(zk: RunningComponent) -> Engine:
    root = zk.where.data_dir.parent.parent / "backups"
    store = Store("zookeeper", zk.component, zk.options, zk.where, zk.installation)
    return Engine(store, driver_for("zookeeper"), DirectoryStorage(root), root)


def client(zk: RunningComponent) -> KazooClient:
    made = KazooClient(hosts=zk.env()["ZOOKEEPER_CONNECT"], timeout=10)
    made.start(timeout=30)
    return made


@dataclass(frozen=True)
class Taken:
    engine: Engine
    backup: str
    tree: dict[str, str]


@pytest.fixture(scope="module")
def taken(zk: RunningComponent) -> Taken:
    """Known znodes (and one ephemeral), backed up once: the server allows one a minute."""
    zk_client = client(zk)
    try:
        for i in range(200):
            zk_client.create(f"/shop/items/{i:03d}", f"item {i}".encode() * 10, makepath=True)
        zk_client.create("/shop/binary", bytes(range(256)))
        zk_client.create("/shop/lock", b"held", ephemeral=True)
        tree, ephemeral = server_tree(zk_client)
        assert ephemeral == ["/shop/lock"]
        engine = make_engine(zk)
        record = engine.run_backup()
    finally:
        zk_client.stop()
        zk_client.close()
    assert record.state == "succeeded", record.reason
    return Taken(engine, record.backup, tree)


def test_a_second_snapshot_within_the_rate_limit_is_refused_and_said(taken: Taken) -> None:
    count = len(taken.engine.backups())
    record = taken.engine.run_backup()
    assert record.state == "failed"
    assert "allows one every 60s (the component's snapshot_interval_ms)" in record.reason
    assert len(taken.engine.backups()) == count


def test_round_trip_through_a_wiped_data_directory(zk: RunningComponent, taken: Taken) -> None:
    engine = taken.engine
    manifest = engine.find(taken.backup)
    assert manifest.store_version == zk.installation.version
    assert manifest.facts["znodes"] == len(taken.tree)
    assert manifest.facts["ephemeral_skipped"] == 1
    assert int(manifest.position["zxid"], 16) > 200
    assert manifest.position["rate_limit_ms"] == str(RATE_LIMIT_MS)

    verified = engine.verify(taken.backup)
    assert verified.state == "succeeded", verified.reason
    assert f"{len(taken.tree)} znodes match" in verified.reason

    zk.stop()
    shutil.rmtree(zk.where.data_dir / DATA)
    restored = engine.restore(manifest, None)
    assert restored.state == "succeeded", restored.reason
    assert "1 ephemeral nodes dropped" in restored.reason
    zk.start()
    zk_client = client(zk)
    try:
        after, ephemeral = server_tree(zk_client)
    finally:
        zk_client.stop()
        zk_client.close()
    assert after == taken.tree
    assert ephemeral == []


def test_a_corrupt_byte_fails_verify_naming_the_object(taken: Taken) -> None:
    engine = taken.engine
    manifest = engine.find(taken.backup)
    name = manifest.objects[0].name
    with one_byte_flipped(engine, manifest.id, name):
        failed = engine.verify(manifest.id)
    assert failed.state == "failed"
    assert f"object {name} does not match its sha256" in failed.reason
    assert engine.verify(manifest.id).state == "succeeded"


def test_a_store_that_is_down_fails_with_the_reason(zk: RunningComponent) -> None:
    engine = make_engine(zk)
    count = len(engine.backups())
    zk.stop()
    try:
        record = engine.run_backup()
    finally:
        zk.start()
    assert record.state == "failed"
    assert "is not answering on its AdminServer" in record.reason
    assert len(engine.backups()) == count


@pytest.fixture(scope="module")
def zk_unlimited() -> Iterator[RunningComponent]:
    """A second server without the snapshot rate limit: a killed run used up a snapshot
    and the next run needs another at once (the module's server allows one a minute)."""
    options = {
        "port": free_port(ADDRESS),
        "admin_port": free_port(ADDRESS),
        "snapshot_interval_ms": 0,
    }
    with own_component("zookeeper", options, ADDRESS) as running:
        yield running


def test_kill_9_mid_run_is_failed_and_the_next_run_succeeds(
    zk_unlimited: RunningComponent,
) -> None:
    zk_client = client(zk_unlimited)
    try:  # a snapshot of ~8 MB: the kill lands while it streams
        for i in range(10):
            zk_client.create(f"/big/{i}", os.urandom(800_000), makepath=True)
    finally:
        zk_client.stop()
        zk_client.close()
    engine = make_engine(zk_unlimited)
    killed = kill_9_mid_run(zk_unlimited, engine, stop_after=3 << 20)
    assert_killed_run_is_failed_and_the_next_succeeds(engine, killed)
    assert engine.backups()[-1].facts["znodes"] >= 11


def test_nothing_can_be_chosen_in_a_snapshot() -> None:
    with pytest.raises(LeapfrogError, match="always of the whole store"):
        driver_for("zookeeper", ["/shop"])
