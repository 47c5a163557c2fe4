"""The OpenSearch driver against a real OpenSearch node: round trip through a wiped data
directory, an incremental second snapshot, restore of one chosen index, verify by
restore into renamed indices and a corrupt byte named, a node that is down, kill -9 of
the backup mid-run, and chosen indices (names and patterns) at backup."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from leapfrog.backup import DirectoryStorage, Engine, Store, driver_for
from leapfrog.backup.driver import BackupDriver
from leapfrog.backup.opensearch import OpenSearchDriver
from leapfrog.shared.errors import LeapfrogError
from leapfrog.testing import RunningComponent, free_port, run_component, scratch_dir

from .conftest import (
    assert_killed_run_is_failed_and_the_next_succeeds,
    kill_9_mid_run,
    one_byte_flipped,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ADDRESS = "127.0.0.61"


@pytest.fixture(scope="module")
def node() -> Iterator[RunningComponent]:
    with scratch_dir("lf-backup-os-") as base:
        options = {"port": free_port(ADDRESS), "transport_port": free_port(ADDRESS), "heap": "384m"}
        with run_component("opensearch", options, base, address=ADDRESS) as running:
            yield running


def make_engine(node: RunningComponent, driver: BackupDriver | None = None) -> Engine:
    root = node.where.data_dir.parent.parent / "backups"
    store = Store("opensearch", node.component, node.options, node.where, node.installation)
    return Engine(store, driver or driver_for("opensearch"), DirectoryStorage(root), root)


def call(node: RunningComponent, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, node.env()["OPENSEARCH_URL"] + path, json=body, timeout=60)
    assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


def contents(node: RunningComponent) -> dict[str, list[tuple[str, Any]]]:
    """Every user index's documents, sorted by id."""
    found = {}
    for row in call(node, "GET", "/_cat/indices?format=json&h=index"):
        index = row["index"]
        if index.startswith("."):
            continue
        call(node, "POST", f"/{index}/_refresh")
        hits = call(node, "POST", f"/{index}/_search", {"size": 1000})["hits"]["hits"]
        found[index] = sorted((hit["_id"], hit["_source"]) for hit in hits)
    return found


def bulk(node: RunningComponent, index: str, docs: list[dict[str, Any]]) -> None:
    lines = []
    for i, doc in enumerate(docs):
        lines.append({"index": {"_index": index, "_id": f"{index[0]}{i}"}})
        lines.append(doc)
    body = "\n".join(httpx.Response(200, json=line).text for line in lines) + "\n"
    response = httpx.post(
        node.env()["OPENSEARCH_URL"] + "/_bulk?refresh=true",
        content=body,
        headers={"content-type": "application/x-ndjson"},
        timeout=120,
    )
    assert response.status_code == 200 and not response.json()["errors"]


@dataclass(frozen=True)
class Taken:
    engine: Engine
    backup: str
    data: dict[str, list[tuple[str, Any]]]


@pytest.fixture(scope="module")
def taken(node: RunningComponent) -> Taken:
    for index, count in (("orders", 300), ("users", 40)):
        bulk(node, index, [{"n": i, "text": f"{index} number {i}"} for i in range(count)])
    engine = make_engine(node)
    record = engine.run_backup()
    assert record.state == "succeeded", record.reason
    return Taken(engine, record.backup, contents(node))


def test_round_trip_through_a_wiped_data_directory(node: RunningComponent, taken: Taken) -> None:
    manifest = taken.engine.find(taken.backup)
    assert manifest.store_version == node.installation.version
    assert manifest.facts["indices"]["orders"][0] == 300
    assert manifest.facts["indices"]["users"][0] == 40
    assert manifest.objects[0].name == "metadata.tar.zst"
    blobs = manifest.objects[1:]
    assert blobs and all(o.shared and "~__" in o.name for o in blobs)

    verified = taken.engine.verify(taken.backup)
    assert verified.state == "succeeded", verified.reason
    assert "2 indices, 340 documents match" in verified.reason
    assert not [i for i in contents(node) if i.startswith("leapfrog-verify")]

    node.stop()
    shutil.rmtree(node.where.data_dir / "nodes")
    shutil.rmtree(node.where.data_dir / "snapshots")
    node.start()
    assert contents(node) == {}
    restored = taken.engine.restore(manifest, None)
    assert restored.state == "succeeded", restored.reason
    assert contents(node) == taken.data


def test_a_second_snapshot_is_incremental_and_one_index_restores_alone(
    node: RunningComponent, taken: Taken
) -> None:
    first = taken.engine.run_backup()
    assert first.state == "succeeded", first.reason
    call(node, "PUT", "/users/_doc/late?refresh=true", {"n": -1})
    second = taken.engine.run_backup()
    assert second.state == "succeeded", second.reason
    manifest = taken.engine.find(second.backup)
    # Only the new segment of `users` was written by OpenSearch; the rest was reused,
    # and leapfrog stored only those new files (and the metadata) again.
    assert 0 < int(manifest.position["new_files"]) < int(manifest.position["files"])
    assert int(manifest.position["reused_files"]) > 0
    assert int(manifest.position["stored_files"]) <= int(manifest.position["new_files"]) + 1
    # `orders` did not change: its facts are the previous backup's, `users`' were read.
    assert manifest.position["reused_facts"] == "orders"
    assert manifest.facts["indices"]["users"][0] == 41
    # The first backup's manifest still names every object it needs.
    held = {o.name for o in taken.engine.find(first.backup).objects if o.shared}
    assert held & {o.name for o in manifest.objects if o.shared}

    call(node, "DELETE", "/orders")
    call(node, "PUT", "/users/_doc/later?refresh=true", {"n": -2})
    only_orders = make_engine(node, OpenSearchDriver(indices=["orders"]))
    _, lines = only_orders.plan_restore(second.backup, None)
    assert "replaces the indices orders on" in lines[0]
    restored = only_orders.restore(manifest, None)
    assert restored.state == "succeeded", restored.reason
    now = contents(node)
    assert now["orders"] == taken.data["orders"]
    assert "later" in {doc_id for doc_id, _ in now["users"]}  # left alone


def test_a_corrupt_byte_fails_verify_naming_the_object(taken: Taken) -> None:
    engine = taken.engine
    manifest = engine.find(taken.backup)
    name = manifest.objects[0].name
    with one_byte_flipped(engine, manifest.id, name):
        failed = engine.verify(manifest.id)
    assert failed.state == "failed"
    assert f"object {name} does not match its sha256" in failed.reason


def test_a_store_that_is_down_fails_with_the_reason(node: RunningComponent, taken: Taken) -> None:
    engine = taken.engine
    count = len(engine.backups())
    node.stop()
    try:
        record = engine.run_backup()
    finally:
        node.start()
    assert record.state == "failed"
    assert "is not answering at" in record.reason
    assert len(engine.backups()) == count


def test_chosen_indices_are_backed_up_alone(node: RunningComponent, taken: Taken) -> None:
    only_orders = make_engine(node, driver_for("opensearch", ["ord*"]))
    record = only_orders.run_backup()
    assert record.state == "succeeded", record.reason
    manifest = only_orders.find(record.backup)
    assert manifest.chosen == ["ord*"]
    assert sorted(manifest.facts["indices"]) == ["orders"]

    unknown = make_engine(node, driver_for("opensearch", ["logs-*"])).run_backup()
    assert unknown.state == "failed"
    assert "has no index logs-*; its indices: orders, users" in unknown.reason
    with pytest.raises(LeapfrogError, match="has no index users; its indices: orders"):
        make_engine(node, driver_for("opensearch", ["users"])).plan_restore(manifest.id, None)


def test_kill_9_mid_run_is_failed_and_the_next_run_succeeds(
    node: RunningComponent, taken: Taken
) -> None:
    # ~8 MB of incompressible text: the kill lands while the repository is streamed.
    bulk(node, "bulk", [{"pad": os.urandom(2000).hex()} for _ in range(2000)])
    try:
        engine = make_engine(node)
        killed = kill_9_mid_run(node, engine, stop_after=3 << 20)
        assert_killed_run_is_failed_and_the_next_succeeds(engine, killed)
    finally:
        call(node, "DELETE", "/bulk")
