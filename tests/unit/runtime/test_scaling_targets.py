"""`leapfrog scale`'s counts: N, +K, -K, and the words for a bad one."""

from __future__ import annotations

import pytest

from leapfrog.runtime.local.scaling import parse_target
from leapfrog.shared.errors import LeapfrogError


@pytest.mark.parametrize(
    ("current", "text", "target"),
    [(2, "6", 6), (2, "+4", 6), (6, "-5", 1), (3, "0", 0), (0, "+1", 1), (1, " 250 ", 250)],
)
def test_counts(current: int, text: str, target: int) -> None:
    assert parse_target(current, text) == target


@pytest.mark.parametrize(
    ("current", "text", "words"),
    [
        (2, "lots", "is not a count"),
        (2, "-3", "would make -1"),
        (2, "251", "would make 251"),
        (2, "+", "is not a count"),
        (2, "1.5", "is not a count"),
    ],
)
def test_bad_counts(current: int, text: str, words: str) -> None:
    with pytest.raises(LeapfrogError, match=words):
        parse_target(current, text)
