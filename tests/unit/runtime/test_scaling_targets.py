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


def test_scale_down_waits_for_the_staying_instances_the_catalog_lists_as_failing() -> None:
    from leapfrog.runtime.local.scaling import not_passing

    def entry(sid: str, *statuses: str) -> dict[str, object]:
        return {
            "Service": {"ID": sid},
            "Checks": [{"CheckID": f"c{i}", "Status": s} for i, s in enumerate(statuses)],
        }

    health = [
        entry("web-1", "passing", "critical"),
        entry("web-2", "passing"),
        entry("web-3", "warning"),
        entry("web-4", "critical"),  # leaving: not asked about
    ]
    assert not_passing(health, ["web-1", "web-2", "web-3"]) == ["web-1", "web-3"]
    assert not_passing(health, ["web-2", "web-9"]) == []  # web-9 not in the catalog
    assert not_passing(None, ["web-1"]) == []
