"""Log events into OpenSearch: daily indices from an index template, `_bulk` writes.

A valid event is a JSON object with an RFC 3339 `ts` (the telemetry event format,
docs/telemetry.md). It is stored as-is with `ts` renamed `@timestamp`, in the index
`<prefix>-YYYY.MM.DD` of its own day (UTC). The document `_id` is the event's `id`
when it has one, else a hash of the record's bytes: writing the same event again (a
replay after a crash, a spool resent by a service) overwrites one document instead of
adding a second.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from leapfrog.pipelines._sink import Decoded, ItemOutcome, Rejected, Retry, Sink, SinkUnavailable

__all__ = ["LogDocument", "OpenSearchSink", "index_template"]

_log = logging.getLogger("leapfrog.pipelines.opensearch")
# `stack` is the stack's name (the telemetry event format): a keyword like the other tags,
# so `stack:example` matches exactly and aggregates; the formatted stack is `stack_info`.
_KEYWORDS = ("stack", "service", "instance", "level", "logger", "host")
# msgspec: JSON in and out at a few microseconds an event, the pipeline's main cost.
_encode = msgspec.json.encode
_decode = msgspec.json.decode
# Per-item statuses worth sending again: the node is busy or a shard is not ready.
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class LogDocument:
    index: str
    id: str
    source: bytes
    """The document as JSON."""
    raw: bytes
    """The Kafka record, dead-lettered as it came if the store rejects the document."""


def index_template(prefix: str) -> dict[str, Any]:
    """The template every daily index is created from."""
    return {
        "index_patterns": [f"{prefix}-*"],
        "priority": 100,
        "template": {
            # One node: replicas could never be assigned and would keep the health yellow.
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {
                "dynamic_templates": [
                    {
                        "strings": {
                            "match_mapping_type": "string",
                            "mapping": {"type": "keyword", "ignore_above": 1024},
                        }
                    }
                ],
                "properties": {
                    "@timestamp": {"type": "date"},
                    "message": {"type": "text"},
                    "exception": {"type": "text"},
                    "stack_info": {"type": "text"},
                    **{name: {"type": "keyword"} for name in _KEYWORDS},
                },
            },
        },
    }


class OpenSearchSink(Sink[LogDocument]):
    name = "opensearch"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "logs",
        retention_days: int = 0,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        now: Any = None,
    ) -> None:
        self.prefix = prefix
        self.retention_days = retention_days
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self._client = httpx.Client(
            base_url=url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"Content-Type": "application/json"},
        )

    def prepare(self) -> None:
        body = index_template(self.prefix)
        response = self._request("PUT", f"/_index_template/leapfrog-{self.prefix}", json=body)
        if response.status_code >= 300:
            raise SinkUnavailable(f"index template refused: {_error_text(response)}")

    def decode(self, value: bytes, timestamp_ms: int | None) -> Decoded[LogDocument]:
        problem, document = _parse_event(value)
        if document is None:
            return Decoded(rejected=[Rejected(problem, value)])
        when = document.pop("ts")
        document["@timestamp"] = when.isoformat().replace("+00:00", "Z")
        event_id = document.get("id")
        doc_id = (
            event_id
            if isinstance(event_id, str) and 0 < len(event_id) <= 512
            else hashlib.blake2b(value, digest_size=16).hexdigest()
        )
        index = f"{self.prefix}-{when.year:04d}.{when.month:02d}.{when.day:02d}"
        return Decoded(items=[LogDocument(index, doc_id, _encode(document), value)])

    def write(self, items: Sequence[LogDocument]) -> list[ItemOutcome]:
        lines = []
        for item in items:
            lines.append(_encode({"index": {"_index": item.index, "_id": item.id}}))
            lines.append(item.source)
        lines.append(b"")
        body = b"\n".join(lines)
        response = self._request(
            "POST", "/_bulk", content=body, headers={"Content-Type": "application/x-ndjson"}
        )
        if response.status_code != 200:
            raise SinkUnavailable(f"_bulk answered {_error_text(response)}")
        try:
            answer = response.json()
            results = answer["items"]
        except (ValueError, KeyError, TypeError):
            raise SinkUnavailable("_bulk answered something that is not a bulk result") from None
        if len(results) != len(items):
            raise SinkUnavailable(f"_bulk answered {len(results)} results for {len(items)}")
        if not answer.get("errors"):
            return [None] * len(items)
        return [_outcome(result, item) for result, item in zip(results, items, strict=True)]

    def retain(self) -> None:
        if self.retention_days <= 0:
            return
        response = self._request(
            "GET", f"/_cat/indices/{self.prefix}-*", params={"format": "json", "h": "index"}
        )
        if response.status_code != 200:
            raise SinkUnavailable(f"listing indices: {_error_text(response)}")
        oldest_kept = (self._now() - dt.timedelta(days=self.retention_days)).date()
        for row in response.json():
            day = _index_day(str(row.get("index", "")), self.prefix)
            if day is not None and day < oldest_kept:
                gone = self._request("DELETE", f"/{row['index']}")
                if gone.status_code not in (200, 404):
                    raise SinkUnavailable(f"deleting {row['index']}: {_error_text(gone)}")
                _log.info(
                    "deleted index %s (older than %d days)", row["index"], self.retention_days
                )

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise SinkUnavailable(f"{method} {path}: {exc or type(exc).__name__}") from None


def _parse_event(value: bytes) -> tuple[str, dict[str, Any] | None]:
    try:
        text = value.decode()
    except UnicodeDecodeError:
        return "not UTF-8", None
    try:
        document = _decode(text)
    except msgspec.DecodeError as exc:
        return f"not JSON: {exc}", None
    if not isinstance(document, dict):
        return f"not a JSON object but {type(document).__name__}", None
    ts = document.get("ts")
    if not isinstance(ts, str):
        return "no `ts` (the event's time, RFC 3339)", None
    try:
        when = dt.datetime.fromisoformat(ts)
    except ValueError:
        return f"`ts` is not an RFC 3339 time: {ts[:64]!r}", None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    document["ts"] = when.astimezone(dt.UTC)
    return "", document


def _outcome(result: dict[str, Any], item: LogDocument) -> ItemOutcome:
    action: dict[str, Any] = next(iter(result.values()), {}) if result else {}
    status = int(action.get("status", 0))
    if 200 <= status < 300:
        return None
    error = action.get("error") or {}
    reason = (
        f"{error.get('type', 'error')}: {error.get('reason', '')}"
        if isinstance(error, dict)
        else str(error)
    )
    if status in _RETRY_STATUSES:
        return Retry(f"HTTP {status} {reason}")
    return Rejected(f"OpenSearch refused the document (HTTP {status}) {reason}"[:1000], item.raw)


def _index_day(index: str, prefix: str) -> dt.date | None:
    stamp = index.removeprefix(f"{prefix}-")
    if stamp == index:
        return None
    try:
        return dt.datetime.strptime(stamp, "%Y.%m.%d").date()
    except ValueError:
        return None


def _error_text(response: httpx.Response) -> str:
    return f"HTTP {response.status_code}: {response.text[:300]}"
