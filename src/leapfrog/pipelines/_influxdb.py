"""Metric lines into InfluxDB 1.x: line-protocol batches to `/write`.

A record of the `metrics` topic is one snapshot: line-protocol lines, one per point
(docs/telemetry.md). Each line is checked (`_lineproto`); a bad one is dead-lettered
alone and the others are written. A line without a timestamp gets the record's Kafka
timestamp, so writing it again (a replay) overwrites the same point instead of adding
one at a new time; timestamps are nanoseconds, as the shipper writes them, and are
written with precision `ns`, unchanged. A batch InfluxDB refuses (a field type conflict)
is split in halves until the refused lines are found and dead-lettered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from leapfrog.pipelines._lineproto import check_line
from leapfrog.pipelines._sink import Decoded, ItemOutcome, Rejected, Sink, SinkUnavailable

__all__ = ["InfluxSink", "MetricLine"]

_log = logging.getLogger("leapfrog.pipelines.influxdb")


@dataclass(frozen=True)
class MetricLine:
    text: str
    """The line, with a timestamp."""
    raw: bytes
    """The line as it came, dead-lettered if InfluxDB refuses it."""


class InfluxSink(Sink[MetricLine]):
    name = "influxdb"

    def __init__(
        self,
        url: str,
        *,
        database: str,
        retention_policy: str = "",
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        username: str = "",
        password: str = "",
        chunk: int = 5000,
    ) -> None:
        self.database = database
        self.chunk = chunk
        self.retention_policy = retention_policy
        auth = (username, password) if username else None
        self._client = httpx.Client(
            base_url=url.rstrip("/"), timeout=timeout, transport=transport, auth=auth
        )

    def prepare(self) -> None:
        # CREATE DATABASE does nothing when it exists (InfluxDB 1.x).
        name = self.database.replace("\\", "\\\\").replace('"', '\\"')
        response = self._request("POST", "/query", data={"q": f'CREATE DATABASE "{name}"'})
        if response.status_code != 200 or '"error"' in response.text:
            raise SinkUnavailable(f"CREATE DATABASE {self.database}: {_error_text(response)}")

    def decode(self, value: bytes, timestamp_ms: int | None) -> Decoded[MetricLine]:
        try:
            text = value.decode()
        except UnicodeDecodeError:
            return Decoded(rejected=[Rejected("not UTF-8", value)])
        items: list[MetricLine] = []
        rejected: list[Rejected] = []
        stamp = f" {timestamp_ms * 1_000_000}" if timestamp_ms and timestamp_ms > 0 else ""
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            check = check_line(line)
            if check.error:
                rejected.append(Rejected(f"invalid line protocol: {check.error}", line.encode()))
            elif check.has_timestamp or not stamp:
                items.append(MetricLine(line.rstrip(), line.encode()))
            else:
                items.append(MetricLine(line.rstrip() + stamp, line.encode()))
        if not items and not rejected:
            rejected.append(Rejected("no line-protocol lines", value))
        return Decoded(items, rejected)

    def write(self, items: Sequence[MetricLine]) -> list[ItemOutcome]:
        # InfluxDB's advice: 5,000 to 10,000 points per request. A failure part way
        # rewrites the first chunks with the batch: harmless, points are idempotent.
        outcomes: list[ItemOutcome] = []
        for start in range(0, len(items), self.chunk):
            outcomes += self._write(items[start : start + self.chunk])
        return outcomes

    def _write(self, items: Sequence[MetricLine]) -> list[ItemOutcome]:
        if not items:
            return []
        response = self._post(items)
        if response.status_code == 204:
            return [None] * len(items)
        if response.status_code in (400, 422) and "database not found" not in response.text:
            if len(items) == 1:
                reason = f"InfluxDB refused the line: {_error_text(response)}"
                return [Rejected(reason[:1000], items[0].raw)]
            # Which lines? Halves until found; rewriting the good ones is harmless.
            middle = len(items) // 2
            return self._write(items[:middle]) + self._write(items[middle:])
        if response.status_code == 404 or "database not found" in response.text:
            self.prepare()
        raise SinkUnavailable(f"/write answered {_error_text(response)}")

    def close(self) -> None:
        self._client.close()

    def _post(self, items: Sequence[MetricLine]) -> httpx.Response:
        params = {"db": self.database, "precision": "ns"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        body = "\n".join(item.text for item in items).encode()
        return self._request("POST", "/write", params=params, content=body)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise SinkUnavailable(f"{method} {path}: {exc or type(exc).__name__}") from None


def _error_text(response: httpx.Response) -> str:
    return f"HTTP {response.status_code}: {response.text.strip()[:300]}"
