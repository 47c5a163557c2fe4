"""Metric lines into InfluxDB 1.x: line-protocol batches to `/write`.

A record of the `metrics` topic is one snapshot: line-protocol lines, one per point
(docs/telemetry.md). The lines go to InfluxDB as they are, which is the judge of what
is valid: it writes every line it can parse and answers 400 naming each one it could
not (`unable to parse '<line>': <reason>`); those are dead-lettered with InfluxDB's
reason. Checking each line in Python first would cost more than InfluxDB's writing it;
only a line with a quote or a backslash is checked here (`_lineproto`), since an
unclosed string runs on into the following lines and InfluxDB may store them inside it.
A refusal that names no line (a field whose type conflicts with the measurement's) is
narrowed down by splitting the batch in halves.

A line without a timestamp gets the record's Kafka timestamp, so writing it again (a
replay) overwrites the same point instead of adding one at a new time; timestamps are
nanoseconds, as the shipper writes them, and are written with precision `ns`, unchanged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from leapfrog.pipelines._lineproto import check_line
from leapfrog.pipelines._sink import Decoded, ItemOutcome, Rejected, Sink, SinkUnavailable

__all__ = ["InfluxSink", "MetricLine"]

_log = logging.getLogger("leapfrog.pipelines.influxdb")

MetricLine = tuple[str, str]
"""(the line as written to InfluxDB, the line as it came): they differ when a timestamp
was added. Plain tuples: a snapshot has hundreds of lines."""

# `partial write: unable to parse '<line>': <reason>\nunable to parse ... dropped=N`
_UNPARSED = re.compile(
    r"unable to parse '(.*?)': (.*?)(?=\nunable to parse '|(?: dropped=\d+)?$)", re.S
)


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
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="influxdb-write")
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
        stamp = f" {timestamp_ms * 1_000_000}" if timestamp_ms and timestamp_ms > 0 else ""
        items: list[MetricLine] = []
        rejected: list[Rejected] = []
        for each in text.split("\n"):
            line = each.rstrip()
            if not line or line[0] == "#":
                continue
            if ('"' in line or "\\" in line) and (error := check_line(line).error):
                # An unclosed string would run into the next lines, and InfluxDB would
                # store them inside it: such a line is checked here, alone.
                rejected.append(Rejected(f"invalid line protocol: {error}", line.encode()))
                continue
            # A valid line's last field is its timestamp when it is a bare integer (a
            # field set always holds an `=`).
            if stamp and not line.rpartition(" ")[2].lstrip("-").isdigit():
                items.append((line + stamp, line))
            else:
                items.append((line, line))
        if not items and not rejected:
            rejected.append(Rejected("no line-protocol lines", value))
        return Decoded(items, rejected)

    def write(self, items: Sequence[MetricLine]) -> list[ItemOutcome]:
        # InfluxDB's advice: 5,000 to 10,000 points per request. Two requests at a time:
        # InfluxDB parses each on a core of its own while the other is in flight. A
        # failure part way rewrites the first chunks with the batch: harmless, points
        # are idempotent.
        chunks = [items[start : start + self.chunk] for start in range(0, len(items), self.chunk)]
        if len(chunks) == 1:
            return self._write(chunks[0])
        outcomes: list[ItemOutcome] = []
        for done in self._pool.map(self._write, chunks):
            outcomes += done
        return outcomes

    def _write(self, items: Sequence[MetricLine]) -> list[ItemOutcome]:
        if not items:
            return []
        response = self._post(items)
        if response.status_code == 204:
            return [None] * len(items)
        if response.status_code == 404 or "database not found" in response.text:
            self.prepare()
            raise SinkUnavailable(f"/write answered {_error_text(response)}")
        if response.status_code not in (400, 422):
            raise SinkUnavailable(f"/write answered {_error_text(response)}")
        named = _refused_lines(response)
        mapped = _named_outcomes(items, named) if named else None
        if mapped is not None:
            outcomes, again = mapped
            if again:
                rewritten = self._write([items[i] for i in again])
                for position, outcome in zip(again, rewritten, strict=True):
                    outcomes[position] = outcome
            return outcomes
        if len(items) == 1:
            reason = f"InfluxDB refused the line: {_error_text(response)}"
            return [Rejected(reason[:1000], items[0][1].encode())]
        # Which lines? Halves until found; rewriting the good ones is harmless.
        middle = len(items) // 2
        return self._write(items[:middle]) + self._write(items[middle:])

    def close(self) -> None:
        self._pool.shutdown()
        self._client.close()

    def _post(self, items: Sequence[MetricLine]) -> httpx.Response:
        params = {"db": self.database, "precision": "ns"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        body = "\n".join(text for text, _ in items).encode()
        return self._request("POST", "/write", params=params, content=body)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise SinkUnavailable(f"{method} {path}: {exc or type(exc).__name__}") from None


def _error_text(response: httpx.Response) -> str:
    return f"HTTP {response.status_code}: {response.text.strip()[:300]}"


def _refused_lines(response: httpx.Response) -> dict[str, str]:
    """The lines a 400 names as unparsable, with InfluxDB's reason for each."""
    try:
        message = str(response.json().get("error", ""))
    except ValueError:
        message = response.text
    return {line: reason.strip() for line, reason in _UNPARSED.findall(message)}


def _named_outcomes(
    items: Sequence[MetricLine], named: dict[str, str]
) -> tuple[list[ItemOutcome], list[int]] | None:
    """InfluxDB wrote every line but the named ones: their outcomes, and the positions
    of lines to write again. A line with an unclosed string swallows the lines after it
    up to the next quote (InfluxDB names them together, joined by newlines): the first
    is refused, the others were not written and go again. None when a named line is
    not one of ours (which were written is then unknown)."""
    refused: dict[str, str] = {}
    swallowed: set[str] = set()
    for span, reason in named.items():
        first, *rest = span.split("\n")
        refused[first] = reason
        swallowed.update(rest)
    outcomes: list[ItemOutcome] = []
    again: list[int] = []
    found: set[str] = set()
    for position, (text, original) in enumerate(items):
        why = refused.get(text)
        if why is not None:
            found.add(text)
            message = f"InfluxDB could not parse the line: {why}"[:1000]
            outcomes.append(Rejected(message, original.encode()))
        else:
            outcomes.append(None)
            if text in swallowed:
                again.append(position)
    return (outcomes, again) if len(found) == len(refused) else None
