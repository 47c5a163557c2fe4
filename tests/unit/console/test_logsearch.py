from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from leapfrog.console._errors import Unavailable, UserError
from leapfrog.console._logsearch import LogSearch
from leapfrog.console._timerange import parse_range


def _search(status: int, body: object, seen: list[httpx.Request]) -> LogSearch:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    return LogSearch(
        "http://os:9200", "logs", httpx.AsyncClient(transport=httpx.MockTransport(handle))
    )


def test_search_sends_text_filters_range_and_reads_hits() -> None:
    seen: list[httpx.Request] = []
    body = {
        "hits": {
            "total": {"value": 1},
            "hits": [
                {
                    "_index": "logs-2026.01.01",
                    "_id": "x",
                    "_source": {"message": "hi", "@timestamp": "t"},
                }
            ],
        },
        "aggregations": {"over_time": {"buckets": [{"key": 1000, "doc_count": 1}]}},
    }
    result = asyncio.run(
        _search(200, body, seen).search(
            "hi", {"service": "web", "level": ""}, parse_range("now-1h", "now")
        )
    )
    assert result.total == 1 and result.hits[0].message == "hi" and result.buckets == [(1000, 1)]
    sent = json.loads(seen[0].content)
    filters = sent["query"]["bool"]["filter"]
    assert {"term": {"service": "web"}} in filters
    assert not any("level" in f.get("term", {}) for f in filters)
    assert any("query_string" in f for f in filters)
    assert seen[0].url.path == "/logs-*/_search"


def test_malformed_query_is_a_user_error_with_opensearch_reason() -> None:
    body = {
        "error": {
            "root_cause": [
                {"type": "query_shard_exception", "reason": "Failed to parse query [a:(]"}
            ],
            "type": "search_phase_execution_exception",
        }
    }
    with pytest.raises(UserError) as caught:
        asyncio.run(_search(400, body, []).search("a:(", {}, parse_range("now-1h", "now")))
    assert "Failed to parse query" in caught.value.message and "Lucene" in caught.value.hint


def test_opensearch_down_or_absent() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    down = LogSearch(
        "http://os:9200", "logs", httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    )
    with pytest.raises(Unavailable, match="does not answer"):
        asyncio.run(down.search("", {}, parse_range("now-1h", "now")))
    with pytest.raises(Unavailable, match="no OpenSearch"):
        asyncio.run(
            LogSearch(None, "logs", httpx.AsyncClient()).search(
                "", {}, parse_range("now-1h", "now")
            )
        )
