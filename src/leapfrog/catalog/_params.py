"""Numbers in query parameters and headers: ASCII digits only, one parser for all of them.

`str.isdigit()` accepts "²" and "٣", which `int()` then refuses (or reads as 3): every
number the catalog takes from a URL or a header goes through `parse_uint` instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from leapfrog.catalog._body import BadRequest

__all__ = ["UINT64", "parse_uint", "query_uint"]

UINT64 = 2**64 - 1
_DIGITS = frozenset(b"0123456789")


def parse_uint(text: str, limit: int = UINT64) -> int | None:
    """The value of a decimal number of ASCII digits up to `limit`; None for anything else
    (signs, spaces, underscores, other scripts' digits, empty, too large)."""
    if not text or len(text) > len(str(limit)) or not text.isascii():
        return None
    if not _DIGITS.issuperset(text.encode("ascii")):
        return None
    value = int(text)
    return value if value <= limit else None


def query_uint(params: Mapping[str, str], name: str, limit: int = UINT64) -> int | None:
    """?name as an unsigned integer (None when absent); 400 `Invalid <name>` otherwise."""
    raw = params.get(name)
    if raw is None:
        return None
    value = parse_uint(raw, limit)
    if value is None:
        raise BadRequest(f"Invalid {name}")
    return value
