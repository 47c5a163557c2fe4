"""InfluxDB 1.x queries (InfluxQL over `GET /query`, which runs only SELECT and SHOW),
and their answers as columns a uPlot chart draws."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from leapfrog.console._errors import Unavailable, UserError
from leapfrog.console._timerange import TimeRange

__all__ = ["Chart", "InfluxClient", "expand"]

_READ_ONLY = re.compile(r"^\s*(SELECT|SHOW)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Chart:
    """Columns for uPlot: times (epoch seconds) and one value list per series."""

    times: list[float]
    series: list[tuple[str, list[float | None]]]

    def as_json(self) -> dict[str, Any]:
        return {
            "times": self.times,
            "series": [{"label": label, "values": values} for label, values in self.series],
        }

    def spanning(self, start: float, end: float) -> Chart:
        """The same points with empty ends at `start` and `end` (epoch seconds), so the
        chart's time axis is the range asked for, not only the span of the points (one
        point alone would stretch it over years)."""
        if not self.times:
            return self
        times, series = list(self.times), [(label, list(v)) for label, v in self.series]
        if start < times[0]:
            times.insert(0, start)
            for _, values in series:
                values.insert(0, None)
        if end > times[-1]:
            times.append(end)
            for _, values in series:
                values.append(None)
        return Chart(times, series)

    @property
    def points(self) -> int:
        return sum(1 for _, values in self.series for v in values if v is not None)


def expand(query: str, span: TimeRange, variables: dict[str, str], min_interval: int = 0) -> str:
    """Grafana's InfluxQL macros: `$timeFilter`, `$__interval` (and `$__interval_ms`), no
    narrower than `min_interval` seconds, `$name` of a variable."""
    interval = max(span.interval(), min_interval)
    text = query.replace(
        "$timeFilter",
        f"time >= {int(span.start.timestamp() * 1000)}ms "
        f"AND time <= {int(span.end.timestamp() * 1000)}ms",
    )
    text = text.replace("$__interval_ms", str(interval * 1000))
    text = text.replace("$__interval", f"{interval}s")
    for name, value in variables.items():
        text = text.replace(f"${name}", value.replace("\\", "\\\\").replace("'", "\\'"))
    return text


class InfluxClient:
    def __init__(self, url: str | None, database: str, client: httpx.AsyncClient) -> None:
        self.url, self.database, self._client = (url or "").rstrip("/"), database, client

    async def raw(self, query: str) -> list[dict[str, Any]]:
        """The series of one read-only statement; UserError for a bad one."""
        if not _READ_ONLY.match(query) or ";" in query.strip().rstrip(";"):
            raise UserError("only one SELECT or SHOW statement may run here")
        if not self.url:
            raise Unavailable(
                "this stack has no InfluxDB, so there are no metrics",
                "add the `influxdb` and `metrics-pipeline` components",
            )
        params = {"db": self.database, "q": query, "epoch": "ms"}
        try:
            response = await self._client.get(f"{self.url}/query", params=params, timeout=15.0)
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"InfluxDB at {self.url} does not answer ({type(exc).__name__})",
                "`leapfrog status influxdb` shows whether it runs",
            ) from None
        try:
            data = response.json()
        except ValueError:
            raise Unavailable(
                f"InfluxDB answered {response.status_code}: {response.text[:200]}"
            ) from None
        error = data.get("error") or next(
            (r.get("error") for r in data.get("results", []) if r.get("error")), None
        )
        if error:
            raise UserError(
                f"InfluxDB: {error}",
                "InfluxQL: SELECT mean(value) FROM m WHERE time > now() - 1h GROUP BY time(1m)",
            )
        series: list[dict[str, Any]] = []
        for result in data.get("results", []):
            series.extend(result.get("series", []))
        return series

    async def tag_values(self, measurement: str, key: str) -> set[str]:
        """The values of one tag, or none when InfluxDB is absent or does not answer (a
        list to pick from is no reason to fail a page)."""
        if not self.url:
            return set()
        statement = f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{key}"'
        try:
            series = await self.raw(statement)
        except UserError:
            return set()
        return {str(row[1]) for s in series for row in s.get("values") or [] if len(row) > 1}

    async def chart(self, query: str) -> Chart:
        found = [s for s in await self.raw(query) if _timed(s)]
        times = sorted({float(row[0]) for s in found for row in s.get("values", [])})
        position = {t: i for i, t in enumerate(times)}
        columns: list[tuple[str, list[float | None]]] = []
        for s in found:
            names = s.get("columns", [])
            tags = ",".join(f"{k}={v}" for k, v in sorted((s.get("tags") or {}).items()))
            base = s.get("name", "")
            for col in range(1, len(names)):
                values: list[float | None] = [None] * len(times)
                for row in s.get("values", []):
                    value = row[col]
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        values[position[float(row[0])]] = float(value)
                label = tags or base
                if len(names) > 2:
                    label = f"{label} {names[col]}"
                columns.append((label, values))
        return Chart([t / 1000.0 for t in times], columns)


def _timed(series: dict[str, Any]) -> bool:
    """A series with a time column of numbers (a SHOW answers names, not points)."""
    columns = series.get("columns") or []
    rows = series.get("values") or []
    return (
        bool(columns)
        and columns[0] == "time"
        and all(isinstance(row[0], int | float) for row in rows)
    )
