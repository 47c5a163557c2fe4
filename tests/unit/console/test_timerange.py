from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leapfrog.console._errors import UserError
from leapfrog.console._timerange import parse_range, unzoomed


def test_relative_and_absolute_moments() -> None:
    span = parse_range("now-15m", "now")
    assert timedelta(minutes=14) < span.end - span.start <= timedelta(minutes=15, seconds=6)
    fixed = parse_range("2026-01-31T12:00", "2026-01-31T13:00:00Z")
    assert fixed.start == datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert fixed.seconds == 3600
    assert fixed.interval(60) == 60


def test_defaults_when_empty() -> None:
    span = parse_range(None, "")
    assert span.text_from == "now-1h" and span.text_to == "now"


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        ("now+1h", "now", "is not a time"),
        ("yesterday", "now", "is not a time"),
        ((datetime.now(UTC) + timedelta(hours=2)).isoformat(), "now", "starts in the future"),
        ("now-1h", "now-2h", "ends before it starts"),
    ],
    # Fixed ids: the future time differs at each collection, and pytest-xdist's workers
    # must collect the same tests.
    ids=["future-relative", "a-word", "future-absolute", "end-before-start"],
)
def test_bad_ranges_say_what_is_wrong(start: str, end: str, words: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_range(start, end)
    assert words in caught.value.message
    assert caught.value.hint


def test_unzoomed_goes_back_to_the_range_before_the_first_zoom() -> None:
    zoomed = [
        ("dashboard", "service"),
        ("service", "web api"),
        ("from", "2026-12-06T07:10:00Z"),
        ("to", "2026-12-06T07:20:00Z"),
        ("reset_from", "now-24h"),
        ("reset_to", "now"),
    ]
    back = unzoomed("/metrics", zoomed)
    assert back == "/metrics?dashboard=service&service=web+api&from=now-24h&to=now"


def test_a_page_never_zoomed_has_no_way_back() -> None:
    assert unzoomed("/logs", [("q", "error"), ("from", "now-1h")]) is None
    assert unzoomed("/logs", [("reset_from", "")]) is None
