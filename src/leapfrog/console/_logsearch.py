"""Log search in OpenSearch's daily indices (`PREFIX-*`, written by the logs pipeline):
free text in Lucene's query syntax, filters on the keyword fields, a time range, a
histogram of matches over time, one document, and what came after a moment (live tail)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from leapfrog.console._errors import Unavailable, UserError
from leapfrog.console._timerange import TimeRange

__all__ = ["FILTERS", "LogHit", "LogSearch", "SearchResult"]

FILTERS = ("service", "instance", "level", "logger", "host")
"""The keyword fields every event has (the pipeline's index template)."""


@dataclass(frozen=True)
class LogHit:
    index: str
    id: str
    source: dict[str, Any]

    @property
    def timestamp(self) -> str:
        return str(self.source.get("@timestamp") or self.source.get("ts") or "")

    @property
    def message(self) -> str:
        return str(self.source.get("message", ""))


@dataclass(frozen=True)
class SearchResult:
    total: int
    hits: list[LogHit]
    buckets: list[tuple[int, int]]
    """(epoch milliseconds, matches) per histogram bucket."""


class LogSearch:
    def __init__(self, url: str | None, prefix: str, client: httpx.AsyncClient) -> None:
        self.url, self.prefix, self._client = (url or "").rstrip("/"), prefix, client

    def _need(self) -> str:
        if not self.url:
            raise Unavailable(
                "this stack has no OpenSearch, so there are no logs to search",
                "add the `opensearch` and `logs-pipeline` components",
            )
        return self.url

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self._need() + path
        try:
            response = await self._client.post(url, json=body, timeout=15.0)
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"OpenSearch at {self.url} does not answer ({type(exc).__name__})",
                "`leapfrog status opensearch` shows whether it runs",
            ) from None
        if response.status_code == 400:
            raise UserError(f"OpenSearch cannot read this search: {_reason(response)}", _SYNTAX)
        if response.status_code >= 500:
            raise Unavailable(f"OpenSearch failed the search: {_reason(response)}")
        if response.status_code != 200:
            raise UserError(f"OpenSearch answered {response.status_code}: {_reason(response)}")
        data: dict[str, Any] = response.json()
        return data

    def query(self, text: str, filters: dict[str, str], span: TimeRange) -> dict[str, Any]:
        must: list[dict[str, Any]] = [
            {"range": {"@timestamp": {"gte": span.start.isoformat(), "lte": span.end.isoformat()}}}
        ]
        if text.strip():
            must.append(
                {"query_string": {"query": text, "default_field": "message", "lenient": False}}
            )
        for name, value in filters.items():
            if value and name in FILTERS:
                must.append({"term": {name: value}})
        return {"bool": {"filter": must}}

    async def search(
        self, text: str, filters: dict[str, str], span: TimeRange, size: int = 100
    ) -> SearchResult:
        body = {
            "size": size,
            "track_total_hits": True,
            "sort": [{"@timestamp": {"order": "desc", "unmapped_type": "date"}}],
            "query": self.query(text, filters, span),
            "aggs": {
                "over_time": {
                    "date_histogram": {
                        "field": "@timestamp",
                        "fixed_interval": f"{span.interval(60)}s",
                        "min_doc_count": 0,
                        "extended_bounds": {
                            "min": int(span.start.timestamp() * 1000),
                            "max": int(span.end.timestamp() * 1000),
                        },
                    }
                }
            },
        }
        data = await self._post(f"/{self.prefix}-*/_search?ignore_unavailable=true", body)
        hits = [
            LogHit(h["_index"], h["_id"], h.get("_source") or {})
            for h in data.get("hits", {}).get("hits", [])
        ]
        buckets = [
            (int(b["key"]), int(b["doc_count"]))
            for b in data.get("aggregations", {}).get("over_time", {}).get("buckets", [])
        ]
        total = data.get("hits", {}).get("total", {})
        return SearchResult(
            int(total.get("value", 0)) if isinstance(total, dict) else 0, hits, buckets
        )

    async def document(self, index: str, doc_id: str) -> LogHit:
        if not index.startswith(f"{self.prefix}-"):
            raise UserError(f"{index!r} is not a log index")
        body = {"size": 1, "query": {"ids": {"values": [doc_id]}}}
        data = await self._post(f"/{index}/_search", body)
        hits = data.get("hits", {}).get("hits", [])
        if not hits:
            raise UserError(f"no log event {doc_id} in {index}")
        return LogHit(hits[0]["_index"], hits[0]["_id"], hits[0].get("_source") or {})


_SYNTAX = (
    'free text is Lucene\'s query syntax: words, "a phrase", level:error, '
    "service:hello AND NOT level:info; quote characters such as : / ( ) with \\"
)


def _reason(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
    except (ValueError, json.JSONDecodeError):
        return response.text[:200]
    if isinstance(error, dict):
        causes = error.get("root_cause") or [error]
        cause = causes[0] if causes else error
        reason = str(cause.get("reason") or error.get("type") or "")
        caused = error.get("caused_by", {})
        if isinstance(caused, dict) and caused.get("reason"):
            reason = f"{reason}: {caused['reason']}" if reason else str(caused["reason"])
        return reason[:300]
    return str(error)[:300]
