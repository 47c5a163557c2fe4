"""Time ranges as users type them: `now-15m`, `now-24h`, `now`, or a date and time
(ISO 8601, UTC unless it says otherwise). A range that starts in the future, or ends
before it starts, is refused with a sentence saying so.

Zoom: dragging across a chart sends the page to the same URL with `from` and `to` the
dragged span (absolute times) and the range it had before its first zoom kept in
`reset_from` and `reset_to`, so a zoomed page can be reloaded and shared, and
`unzoomed` gives its way back."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from leapfrog.console._errors import UserError

__all__ = ["PRESETS", "RESET", "TimeRange", "parse_range", "unzoomed"]

PRESETS = ("now-5m", "now-15m", "now-1h", "now-6h", "now-24h", "now-7d")
_RELATIVE = re.compile(r"^now(?:-(\d{1,6})([smhdw]))?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
RESET = ("reset_from", "reset_to")
"""The query parameters holding a zoomed page's range before its first zoom."""


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    text_from: str
    text_to: str

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def interval(self, points: int = 120) -> int:
        """A bucket width in seconds giving about `points` buckets (at least 1 s)."""
        return max(1, int(self.seconds / points))


def _moment(text: str, now: datetime, field: str) -> datetime:
    text = text.strip()
    match = _RELATIVE.match(text)
    if match:
        amount, unit = match.groups()
        return now - timedelta(seconds=int(amount) * _UNITS[unit]) if amount else now
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"{field} {text!r} is not a time",
            "write now-15m, now-24h, now, or a date and time such as 2026-01-31T12:00",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_range(text_from: str | None, text_to: str | None, default: str = "now-1h") -> TimeRange:
    now = datetime.now(UTC)
    text_from = (text_from or default).strip() or default
    text_to = (text_to or "now").strip() or "now"
    start = _moment(text_from, now, "from")
    end = _moment(text_to, now, "to")
    if start > now + timedelta(seconds=5):
        raise UserError(
            f"the time range starts in the future ({start:%Y-%m-%d %H:%M:%S} UTC)",
            "pick a start before now, e.g. now-1h",
        )
    if end <= start:
        raise UserError("the time range ends before it starts", "swap from and to")
    return TimeRange(start, min(end, now + timedelta(seconds=5)), text_from, text_to)


def unzoomed(path: str, params: Iterable[tuple[str, str]]) -> str | None:
    """The page's URL with the range it had before it was zoomed (its other parameters
    kept), or None when it is not zoomed."""
    given = list(params)
    saved = dict(p for p in given if p[0] in RESET)
    if not saved.get("reset_from"):
        return None
    kept = [(k, v) for k, v in given if k not in {"from", "to", *RESET}]
    kept += [("from", saved["reset_from"]), ("to", saved.get("reset_to") or "now")]
    return f"{path}?{urlencode(kept)}"
