from __future__ import annotations

from datetime import UTC, datetime

from leapfrog.console._history import history, spoken
from leapfrog.console._logsearch import LogHit


def _hit(ts: str, event: str, state: str) -> LogHit:
    source = {"@timestamp": ts, "event": event, "state": state, "level": "info", "detail": ""}
    return LogHit("logs-x", ts, source)


def test_changes_come_newest_first_with_how_long_each_state_lasted() -> None:
    hits = [
        _hit("2026-01-01T00:01:00Z", "exited", "starting"),
        _hit("2026-01-01T00:00:00Z", "health", "healthy"),
        _hit("2026-01-01T00:01:05Z", "health", "healthy"),
        _hit("not a time", "health", "healthy"),
    ]
    found = history(hits, datetime(2026, 1, 1, 0, 2, 5, tzinfo=UTC))
    assert [(c.event, c.lasted) for c in found.changes] == [
        ("health", 60.0),
        ("exited", 5.0),
        ("health", 60.0),
    ]
    assert found.spent == [("healthy", 120.0), ("starting", 5.0)]
    assert found.total == 125.0


def test_no_events_is_an_empty_history() -> None:
    found = history([], datetime(2026, 1, 1, tzinfo=UTC))
    assert found.changes == [] and found.spent == [] and found.total == 0


def test_durations_are_spoken() -> None:
    assert spoken(0.4) == "0s"
    assert spoken(3725) == "1h 2m 5s"
    assert spoken(120) == "2m"
    assert spoken(90061) == "1d 1h 1m 1s"
