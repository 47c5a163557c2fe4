"""What every stack-file model shares: strict, frozen models and the Duration type."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from leapfrog.shared.durations import format_duration, parse_duration


def _duration(value: object) -> float:
    # Overflow and inf/nan are not ValueErrors of parse_duration; without this an absurd
    # number escaped validation as an OverflowError, or became an infinite/NaN backoff.
    try:
        seconds = parse_duration(value)
    except OverflowError:
        raise ValueError("expected a duration such as 500ms, 10s or 1m30s") from None
    if not math.isfinite(seconds):
        raise ValueError("expected a finite duration such as 500ms, 10s or 1m30s")
    return seconds


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    Field(json_schema_extra={"type": "string", "examples": ["500ms", "10s", "1m30s"]}),
]
"""Seconds; written in the stack file as `500ms`, `10s`, `1m30s` or a bare number of seconds."""


class Model(BaseModel):
    # strict: YAML's `true` is no number, nor "8080" in quotes; no NaN or infinity either.
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, strict=True, allow_inf_nan=False
    )


_SIZE = re.compile(r"([0-9]+) *([kmg]i?b?)?", re.IGNORECASE | re.ASCII)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_DECIMAL = {"kb": 1000, "mb": 1000**2, "gb": 1000**3}


def _byte_size(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if match:
            unit = (match.group(2) or "").lower()
            factor = _DECIMAL.get(unit) or _UNITS[unit[:1]]
            return int(match.group(1)) * factor
    raise ValueError("expected a size such as 10MiB, 512KiB or a number of bytes")


def _format_size(value: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value % factor == 0:
            return f"{value // factor}{unit}"
    return str(value)


ByteSize = Annotated[
    int,
    BeforeValidator(_byte_size),
    PlainSerializer(_format_size, return_type=str, when_used="json"),
    Field(json_schema_extra={"type": "string", "examples": ["10MiB", "512KiB", "1GB"]}),
]
"""Bytes; written as `10MiB`, `512KiB` (or `10m`, `512k`: powers of 1024), `10MB` (powers
of 1000) or a bare number of bytes."""
