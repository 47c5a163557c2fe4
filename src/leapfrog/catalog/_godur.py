"""Go duration syntax ("120000ms", "1m30s", "1.5h", "-2s"), as Consul's API reads it, and
Go's own rendering of a duration (time.Duration.String), as Consul writes it."""

from __future__ import annotations

import math
import re

__all__ = ["format_go_duration", "parse_go_duration"]

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
# ASCII digits only (re.ASCII): Go's parser reads no other script's digits.
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)", re.ASCII)
_WHOLE = re.compile(r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+", re.ASCII)
_LIMIT = 9.2e9  # Go's time.Duration overflows at about 292 years


def parse_go_duration(value: object) -> float:
    """Seconds for a Go duration string, or for a number of nanoseconds (JSON numbers).

    Raises ValueError for anything else, as Go's time.ParseDuration would.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int) and abs(value) > _LIMIT * 1e9:
        raise ValueError("invalid duration: out of range")
    if isinstance(value, int | float):
        seconds = float(value) / 1e9
    elif isinstance(value, str):
        text = value.strip()
        if text in ("0", "+0", "-0", ""):
            if text == "":
                raise ValueError('invalid duration ""')
            return 0.0
        if not _WHOLE.fullmatch(text):
            raise ValueError(f'invalid duration "{value}"')
        seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
        if text.startswith("-"):
            seconds = -seconds
    else:
        raise ValueError(f"invalid duration {value!r}")
    if not math.isfinite(seconds) or abs(seconds) > _LIMIT:
        raise ValueError(f'invalid duration "{value}": out of range')
    return seconds


def format_go_duration(seconds: float) -> str:
    """What Go's time.Duration.String() prints: "0s", "500ms", "1.5s", "1m30s", "1h0m0s".

    Consul renders every duration it stores this way; HashiCorp's Go client parses it
    back with time.ParseDuration, which accepts exactly this syntax."""
    nanos = round(seconds * 1e9)
    sign, nanos = ("-", -nanos) if nanos < 0 else ("", nanos)
    if nanos == 0:
        return "0s"
    if nanos < 1_000:
        return f"{sign}{nanos}ns"
    if nanos < 1_000_000:
        return f"{sign}{_fraction(nanos, 1_000)}µs"
    if nanos < 1_000_000_000:
        return f"{sign}{_fraction(nanos, 1_000_000)}ms"
    whole_seconds, rest = divmod(nanos, 1_000_000_000)
    text = f"{_fraction(whole_seconds % 60 * 1_000_000_000 + rest, 1_000_000_000)}s"
    minutes = whole_seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes // 60:
            text = f"{minutes // 60}h{text}"
    return sign + text


def _fraction(value: int, unit: int) -> str:
    """`value / unit` in decimal without trailing zeros ("1.5", "250", "0.001")."""
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{rest:0{digits}d}".rstrip("0")
