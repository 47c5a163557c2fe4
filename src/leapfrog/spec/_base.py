"""What every stack-file model shares: strict, frozen models and the Duration type."""

from __future__ import annotations

import math
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
