"""The OpenSearch component against the real node: its REST API, the module plugins
(analysis, Painless, reindex), fs snapshots under path.repo, the instance's address only,
and an acknowledged document kept across kill -9."""

from __future__ import annotations

import os
import signal
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from leapfrog.components._jvm_training import run_for_training
from leapfrog.components.opensearch import training_options
from leapfrog.testing import RunningComponent, free_port, run_component, scratch_dir

ADDRESS = "127.0.0.23"
# Free ports: two test sessions (two worktrees) may run this file at the same time.
PORT = free_port(ADDRESS)
OPTIONS = {"port": PORT, "transport_port": free_port(ADDRESS), "heap": "384m"}


@pytest.fixture(scope="module")
def opensearch() -> Iterator[RunningComponent]:
    with (
        scratch_dir("lf-opensearch-") as base,
        run_component("opensearch", OPTIONS, base, address=ADDRESS) as r,
    ):
        yield r


def call(running: RunningComponent, method: str, path: str, body: Any = None) -> Any:
    url = running.env()["OPENSEARCH_URL"] + path
    response = httpx.request(method, url, json=body, timeout=60)
    assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


@pytest.mark.timeout(300)  # the first test also starts the module's node
def test_a_document_is_indexed_and_found_with_the_common_analyzers(
    opensearch: RunningComponent,
) -> None:
    index = f"t-{uuid.uuid4().hex[:8]}"
    settings = {  # the stemmer filter comes from the analysis-common module
        "settings": {
            "analysis": {
                "filter": {"english": {"type": "stemmer", "language": "english"}},
                "analyzer": {
                    "english_stem": {"tokenizer": "standard", "filter": ["lowercase", "english"]}
                },
            }
        },
        "mappings": {"properties": {"message": {"type": "text", "analyzer": "english_stem"}}},
    }
    call(opensearch, "PUT", f"/{index}", settings)
    call(opensearch, "PUT", f"/{index}/_doc/1?refresh=true", {"message": "Brokers restarted"})
    found = call(
        opensearch, "POST", f"/{index}/_search", {"query": {"match": {"message": "restart"}}}
    )
    assert [hit["_id"] for hit in found["hits"]["hits"]] == ["1"]
    health = call(opensearch, "GET", f"/_cluster/health/{index}")
    assert health["status"] == "green"  # one node, no replicas


@pytest.mark.timeout(120)
def test_painless_scripts_and_delete_by_query_work(opensearch: RunningComponent) -> None:
    index = f"p-{uuid.uuid4().hex[:8]}"
    for n in range(3):
        call(opensearch, "PUT", f"/{index}/_doc/{n}?refresh=true", {"n": n})
    script = {
        "script": {
            "lang": "painless",
            "source": "ctx._source.n += params.add",
            "params": {"add": 10},
        }
    }
    call(opensearch, "POST", f"/{index}/_update/0?refresh=true", script)
    assert call(opensearch, "GET", f"/{index}/_doc/0")["_source"]["n"] == 10
    deleted = call(
        opensearch,
        "POST",
        f"/{index}/_delete_by_query?refresh=true",
        {"query": {"range": {"n": {"lt": 5}}}},
    )
    assert deleted["deleted"] == 2


@pytest.mark.timeout(180)
def test_an_fs_snapshot_is_taken_under_the_data_dir(opensearch: RunningComponent) -> None:
    index = f"s-{uuid.uuid4().hex[:8]}"
    call(opensearch, "PUT", f"/{index}/_doc/1?refresh=true", {"kept": True})
    location = opensearch.where.data_dir / "snapshots" / "test"
    call(
        opensearch,
        "PUT",
        "/_snapshot/test",
        {"type": "fs", "settings": {"location": str(location)}},
    )
    snap = call(
        opensearch,
        "PUT",
        f"/_snapshot/test/{index}?wait_for_completion=true",
        {"indices": index},
    )
    assert snap["snapshot"]["state"] == "SUCCESS"
    assert any(location.iterdir())


@pytest.mark.timeout(60)
def test_it_listens_on_the_instance_address_only(opensearch: RunningComponent) -> None:
    assert opensearch.health().ok
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", PORT))
    if os.geteuid() == 0:  # run by root, the node runs as the app user
        assert opensearch.popen is not None
        owner = Path(f"/proc/{opensearch.popen.pid}").stat().st_uid
        assert owner != 0
        assert (opensearch.where.data_dir / "nodes").stat().st_mode & 0o077 == 0


@pytest.mark.timeout(300)
def test_an_acknowledged_document_survives_kill_9(opensearch: RunningComponent) -> None:
    index = f"k-{uuid.uuid4().hex[:8]}"
    call(opensearch, "PUT", f"/{index}/_doc/1", {"acked": "yes"})  # no refresh, no flush
    assert opensearch.popen is not None
    os.killpg(opensearch.popen.pid, signal.SIGKILL)
    opensearch.popen.wait(30)
    assert not opensearch.health().ok
    opensearch.start()
    assert call(opensearch, "GET", f"/{index}/_doc/1")["_source"] == {"acked": "yes"}


@pytest.mark.timeout(300)
@pytest.mark.skipif(os.geteuid() != 0, reason="runs the node as root, which needs root")
def test_the_node_also_runs_as_root(opensearch: RunningComponent) -> None:
    """OpenSearch's own entry point refuses root; the launcher does not (the install's
    training run is such a start): started, healthy and stopped cleanly, or it raises."""
    comp = opensearch.component
    training = training_options(comp.options({"heap": "256m"}))
    run_for_training(comp, training, opensearch.installation)
