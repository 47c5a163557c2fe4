"""Request bodies as Consul reads them: keys matched case-insensitively with `_` removed.

py-consul sends `serviceid`, `enabletagoverride`, `grpc_use_tls`; the Go client sends
`ServiceID`. Only the struct fields are folded: the keys of user maps (Meta, Header,
TaggedAddresses) are kept exactly as sent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["BadRequest", "Fields", "decode_json", "fold_key", "parse_json_object"]

_SURROGATE = re.compile("[\ud800-\udfff]")


class BadRequest(Exception):
    """A client error: answered 400 with this text (or `status`)."""

    def __init__(self, text: str, status: int = 400) -> None:
        super().__init__(text)
        self.text = text
        self.status = status


def fold_key(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 overflows to inf
        raise ValueError(f"number {text[:40]} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_refuse_constant)


def _valid_strings(data: Any) -> Any:
    """Lone surrogates ("\\ud800") replaced by U+FFFD, as Go's encoding/json does: every
    string the catalog keeps can then be encoded (in answers, error texts, DNS)."""
    if isinstance(data, str):
        return _SURROGATE.sub("\ufffd", data)
    if isinstance(data, list):
        return [_valid_strings(v) for v in data]
    if isinstance(data, dict):
        return {_valid_strings(k): _valid_strings(v) for k, v in data.items()}
    return data


def decode_json(body: bytes) -> Any:
    """A request body's JSON: strict UTF-8, finite numbers only (NaN, Infinity and 1e999
    are refused), no lone surrogates. Raises ValueError (a 400 for the caller)."""
    try:
        text = body.decode("utf-8")
        data = _DECODER.decode(text)
        # Surrogates come only from \u escapes (raw ones are not valid UTF-8).
        return _valid_strings(data) if "\\u" in text else data
    except RecursionError:
        raise ValueError("nested too deeply") from None


def parse_json_object(body: bytes, what: str = "body") -> Fields:
    if not body.strip():
        raise BadRequest(f"Request decode failed: empty {what}")
    try:
        data = decode_json(body)
    except ValueError as exc:
        raise BadRequest(f"Request decode failed: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"Request decode failed: {what} must be a JSON object")
    return Fields(data, what)


class Fields:
    """One JSON object's fields, looked up by folded name, with typed getters."""

    __slots__ = ("_items", "where")

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self._items = {fold_key(k): v for k, v in data.items()}
        self.where = where

    def has(self, *names: str) -> bool:
        return any(self._items.get(fold_key(n)) is not None for n in names)

    def raw(self, *names: str) -> Any:
        for name in names:
            value = self._items.get(fold_key(name))
            if value is not None:
                return value
        return None

    def _bad(self, name: str, expected: str) -> BadRequest:
        return BadRequest(f"Request decode failed: {self.where}.{name} must be {expected}")

    def text(self, *names: str, default: str = "") -> str:
        value = self.raw(*names)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._bad(names[0], "a string")
        return value

    def integer(self, name: str, default: int = 0, low: int = 0, high: int = 2**31 - 1) -> int:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._bad(name, "a number")
        integral = isinstance(value, int) or value.is_integer()  # False for inf and nan
        if not integral or not low <= value <= high:
            raise self._bad(name, f"an integer from {low} to {high}")
        return int(value)

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._bad(name, "true or false")
        return value

    def str_list(self, name: str) -> tuple[str, ...]:
        value = self.raw(name)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(name, "a list of strings")
        return tuple(value)

    def str_map(self, name: str) -> dict[str, str]:
        value = self.raw(name)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self._bad(name, "an object of strings")
        return dict(value)

    def obj(self, name: str) -> Fields | None:
        value = self.raw(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._bad(name, "an object")
        return Fields(value, f"{self.where}.{name}")

    def obj_list(self, name: str) -> list[Fields]:
        value = self.raw(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self._bad(name, "a list of objects")
        return [Fields(v, f"{self.where}.{name}[{i}]") for i, v in enumerate(value)]
