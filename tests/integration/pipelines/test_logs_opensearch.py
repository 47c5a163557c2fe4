"""The logs pipeline into a real OpenSearch: 10,000 events through a SIGKILL of the
store, each stored exactly once; malformed records all dead-lettered with reasons."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from leapfrog.pipelines import OpenSearchSink
from leapfrog.testing import RunningComponent, run_component
from tests.integration.pipelines.conftest import (
    PIPELINE_ADDRESS,
    Trickle,
    base_dir,
    bootstrap,
    consume_all,
    event,
    headers_of,
    kill_for,
    new_topic,
    produce,
    settled,
    wait_for,
)

pytestmark = pytest.mark.integration


def os_url(opensearch: RunningComponent) -> str:
    return opensearch.env()["OPENSEARCH_URL"]


def count(opensearch: RunningComponent, prefix: str) -> int:
    url = os_url(opensearch)
    httpx.post(f"{url}/{prefix}-*/_refresh", timeout=30)
    answer = httpx.get(f"{url}/{prefix}-*/_count", timeout=30).json()
    return int(answer.get("count", -1))


def seqs(opensearch: RunningComponent, prefix: str, size: int) -> list[int]:
    body = {"size": size, "_source": ["seq"], "query": {"match_all": {}}}
    answer = httpx.post(f"{os_url(opensearch)}/{prefix}-*/_search", json=body, timeout=60).json()
    return [hit["_source"]["seq"] for hit in answer["hits"]["hits"]]


def logs_pipeline(
    kafka: RunningComponent, opensearch: RunningComponent, topic: str, prefix: str
) -> Any:
    options = {
        "kafka": bootstrap(kafka),
        "url": os_url(opensearch),
        "topic": topic,
        "index_prefix": prefix,
        "batch_size": 1000,
    }
    return run_component("logs-pipeline", options, base_dir(prefix), address=PIPELINE_ADDRESS)


@pytest.mark.timeout(600)
def test_ten_thousand_events_through_a_sigkill_of_opensearch(
    kafka: RunningComponent, opensearch: RunningComponent
) -> None:
    topic = new_topic(kafka)
    run = uuid.uuid4().hex[:8]
    prefix = f"t{run}"
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # Half carry an id, half are identified by a hash of their bytes.
    values = [
        event(i, run, ts=now) if i % 2 else _without_id(event(i, run, ts=now))
        for i in range(10_000)
    ]
    with logs_pipeline(kafka, opensearch, topic, prefix) as pipeline:
        producer = Trickle(kafka, topic, values, 25.0)
        producer.start()
        wait_for(lambda: count(opensearch, prefix) >= 1000, 120, "the first events indexed")
        kill_for(opensearch, 10.0, meanwhile=producer)  # events keep flowing into Kafka
        producer.join(120)
        assert not producer.is_alive()
        wait_for(lambda: count(opensearch, prefix) >= 10_000, 240, "all events indexed")
        time.sleep(3)  # anything more (a duplicate) would show now
        assert count(opensearch, prefix) == 10_000
        assert sorted(seqs(opensearch, prefix, 10_000)) == list(range(10_000))
        health = wait_for(lambda: settled(pipeline), 30, "lag 0")
        assert health["sink_up"] and health["retries"] > 0, health  # it did wait
        assert health["written"] >= 10_000 and health["dead_lettered"] == 0


@pytest.mark.timeout(300)
def test_malformed_records_go_to_the_dead_letter_topic_with_reasons(
    kafka: RunningComponent, opensearch: RunningComponent
) -> None:
    topic = new_topic(kafka)
    run = uuid.uuid4().hex[:8]
    prefix = f"t{run}"
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    bad_kinds = [
        b"not json at all",
        b"[1, 2, 3]",
        json.dumps({"message": "no time"}).encode(),
        json.dumps({"ts": "yesterday", "message": "x"}).encode(),
        b"\xff\xfe\x00garbage",
        # Valid JSON, refused by OpenSearch itself: `seq` is a number in the index.
        json.dumps(
            {**json.loads(event(0, run, ts=now)), "seq": "not a number", "id": None}
        ).encode(),
    ]
    values: list[bytes] = []
    bad = 0
    for i in range(4000):
        if i % 4 == 3:
            kind = bad_kinds[bad % len(bad_kinds)]
            values.append(kind if kind[:1] != b"{" or b'"id"' not in kind else _unique(kind, bad))
            bad += 1
        else:
            values.append(event(i, run, ts=now))
    assert bad == 1000
    with logs_pipeline(kafka, opensearch, topic, prefix) as pipeline:
        produce(kafka, topic, values)
        wait_for(lambda: count(opensearch, prefix) >= 3000, 180, "valid events indexed")
        dead = consume_all(kafka, f"{topic}.dlq", 1000)
        assert len(dead) == 1000
        reasons = [headers_of(m)["leapfrog.dlq.reason"] for m in dead]
        assert all(reasons)
        assert sum("not JSON" in r for r in reasons) >= 166
        assert sum("mapper_parsing_exception" in r for r in reasons) >= 166
        assert {headers_of(m)["leapfrog.dlq.topic"] for m in dead} == {topic}
        assert count(opensearch, prefix) == 3000
        health = wait_for(lambda: settled(pipeline), 30, "lag 0")
        assert health["dead_lettered"] == 1000


def _without_id(value: bytes) -> bytes:
    data = json.loads(value)
    del data["id"]
    return json.dumps(data).encode()


def _unique(value: bytes, n: int) -> bytes:
    data = json.loads(value)
    data["id"] = f"bad-{n}"
    return json.dumps(data).encode()


def test_retention_deletes_daily_indices_older_than_kept(opensearch: RunningComponent) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    today = dt.datetime.now(dt.UTC).date()
    days = [today - dt.timedelta(days=n) for n in (0, 2, 3, 10)]
    url = os_url(opensearch)
    sink = OpenSearchSink(url, prefix=prefix, retention_days=2)
    sink.prepare()
    for day in days:
        ts = f"{day.isoformat()}T12:00:00Z"
        [doc] = sink.decode(json.dumps({"ts": ts, "message": "x"}).encode(), None).items
        assert sink.write([doc]) == [None]
    sink.retain()
    sink.close()
    left = httpx.get(f"{url}/_cat/indices/{prefix}-*", params={"format": "json"}).json()
    kept = sorted(row["index"] for row in left)
    assert kept == sorted(f"{prefix}-{day:%Y.%m.%d}" for day in days[:2])
