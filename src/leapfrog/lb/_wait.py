"""Quiescence, as consul-template's `wait {min, max}`: after a change, render once the
catalog has been quiet for `min`, but never later than `max` after the first change."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from leapfrog.shared.durations import parse_duration

__all__ = ["Wait", "parse_wait", "quiesce"]


@dataclass(frozen=True)
class Wait:
    min: float
    max: float


def parse_wait(text: str) -> Wait:
    """`50ms:250ms`, or `1s` alone (max is then 4 x min, as consul-template does).

    Raises ValueError saying what a wait looks like."""
    low, colon, high = text.partition(":")
    try:
        minimum = parse_duration(low)
        maximum = parse_duration(high) if colon else minimum * 4
    except ValueError as exc:
        raise ValueError(f"wait {text!r}: {exc} (write MIN:MAX, e.g. 50ms:250ms)") from None
    if maximum < minimum:
        raise ValueError(f"wait {text!r}: the max ({high}) is shorter than the min ({low})")
    return Wait(minimum, maximum)


async def quiesce(changed: asyncio.Event, wait: Wait) -> None:
    """Called after a change was seen (and `changed` cleared): return once no further change
    has come for `wait.min`, or `wait.max` after the call, whichever is first."""
    if wait.max <= 0:
        return
    deadline = time.monotonic() + wait.max
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            await asyncio.wait_for(changed.wait(), timeout=min(wait.min, left))
        except TimeoutError:
            return
        changed.clear()
