"""The OpenSearch sink against httpx.MockTransport: decoding, _bulk outcomes, retention."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from leapfrog.pipelines import OpenSearchSink, Rejected, Retry, SinkUnavailable, index_template

EVENT = {
    "ts": "2026-11-25T17:06:42.123456Z",
    "level": "info",
    "message": "order placed",
    "logger": "app",
    "service": "hello",
    "instance": "hello-1",
    "host": "box",
    "order": 42,
}


def raw(event: object) -> bytes:
    return json.dumps(event).encode()


def sink_with(handler: object, **kwargs: object) -> OpenSearchSink:
    return OpenSearchSink(
        "http://os:9200",
        transport=httpx.MockTransport(handler),
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_valid_event_becomes_a_document_of_its_days_index() -> None:
    sink = sink_with(lambda r: httpx.Response(500))
    decoded = sink.decode(raw(EVENT), None)
    assert not decoded.rejected
    [doc] = decoded.items
    assert doc.index == "logs-2026.11.25"
    source = json.loads(doc.source)
    assert source["@timestamp"] == "2026-11-25T17:06:42.123456Z"
    assert "ts" not in source
    assert source["order"] == 42 and source["message"] == "order placed"


def test_the_id_is_the_events_id_or_a_hash_of_the_record() -> None:
    sink = sink_with(lambda r: httpx.Response(500))
    assert sink.decode(raw({**EVENT, "id": "e-1"}), None).items[0].id == "e-1"
    first = sink.decode(raw(EVENT), None).items[0].id
    assert sink.decode(raw(EVENT), None).items[0].id == first  # a replay: same document
    assert sink.decode(raw({**EVENT, "message": "other"}), None).items[0].id != first


def test_an_offset_time_lands_in_its_utc_day() -> None:
    sink = sink_with(lambda r: httpx.Response(500))
    doc = sink.decode(raw({**EVENT, "ts": "2026-11-25T23:30:00-02:00"}), None).items[0]
    assert doc.index == "logs-2026.11.26"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (raw({"message": "x"}), "no `ts`"),
        (raw({"ts": "yesterday"}), "not an RFC 3339 time"),
        (raw({"ts": 17}), "no `ts`"),
    ],
)
def test_invalid_records_are_rejected_with_a_reason(value: bytes, reason: str) -> None:
    decoded = sink_with(lambda r: httpx.Response(500)).decode(value, None)
    assert not decoded.items
    [rejected] = decoded.rejected
    assert reason in rejected.reason
    assert rejected.payload == value


def test_bulk_body_and_per_item_outcomes() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        items = [
            {"index": {"status": 201}},
            {"index": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}},
            {
                "index": {
                    "status": 400,
                    "error": {"type": "mapper_parsing_exception", "reason": "bad"},
                }
            },
        ]
        return httpx.Response(200, json={"errors": True, "items": items})

    sink = sink_with(handler)
    docs = [sink.decode(raw({**EVENT, "id": f"e{i}"}), None).items[0] for i in range(3)]
    outcomes = sink.write(docs)
    assert outcomes[0] is None
    assert isinstance(outcomes[1], Retry)
    assert isinstance(outcomes[2], Rejected)
    assert "mapper_parsing_exception: bad" in outcomes[2].reason
    assert outcomes[2].payload == docs[2].raw
    [request] = seen
    assert request.url.path == "/_bulk"
    lines = request.content.decode().splitlines()
    assert json.loads(lines[0]) == {"index": {"_index": "logs-2026.11.25", "_id": "e0"}}
    assert json.loads(lines[1])["message"] == "order placed"
    assert len(lines) == 6


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503, text="cluster_block_exception"),
        httpx.Response(429, text="too many"),
        httpx.Response(200, text="not json"),
    ],
)
def test_a_refused_or_odd_bulk_answer_means_unavailable(answer: httpx.Response) -> None:
    sink = sink_with(lambda r: answer)
    with pytest.raises(SinkUnavailable):
        sink.write(sink.decode(raw(EVENT), None).items)


def test_connection_refused_means_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(SinkUnavailable, match="refused"):
        sink_with(handler).prepare()


def test_prepare_puts_the_index_template() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"acknowledged": True})

    sink_with(handler).prepare()
    [request] = seen
    assert request.method == "PUT" and request.url.path == "/_index_template/leapfrog-logs"
    body = json.loads(request.content)
    assert body == index_template("logs")
    props = body["template"]["mappings"]["properties"]
    assert props["@timestamp"] == {"type": "date"} and props["message"] == {"type": "text"}
    for name in ("service", "instance", "level", "logger", "host"):
        assert props[name] == {"type": "keyword"}


def test_the_stack_name_is_a_keyword_and_the_formatted_stack_text() -> None:
    """Events carry the stack's name in `stack` (LEAPFROG_STACK, the collector's tag):
    matched exactly like the other tags, not split into words; `stack_info` holds the
    formatted stack of a record (docs/telemetry.md)."""
    props = index_template("logs")["template"]["mappings"]["properties"]
    assert props["stack"] == {"type": "keyword"}
    assert props["stack_info"] == {"type": "text"}


def test_retention_deletes_only_indices_older_than_kept() -> None:
    deleted: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            names = ["logs-2026.11.20", "logs-2026.11.23", "logs-2026.11.25", "logs-other"]
            return httpx.Response(200, json=[{"index": n} for n in names])
        deleted.append(request.url.path)
        return httpx.Response(200, json={"acknowledged": True})

    now = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
    sink_with(handler, retention_days=2, now=lambda: now).retain()
    assert deleted == ["/logs-2026.11.20"]


def test_no_retention_touches_nothing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    sink_with(handler, retention_days=0).retain()
