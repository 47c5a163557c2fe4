"""Go duration syntax ("120000ms", "1m30s", "1.5h", "-2s"), as Consul's API reads it."""

from __future__ import annotations

import math
import re

__all__ = ["parse_go_duration"]

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
