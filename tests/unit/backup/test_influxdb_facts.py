"""InfluxDB's facts have no snapshot: they are read before and after the backup, and a
restored copy must lie between the two (influxdb._diff)."""

from __future__ import annotations

from typing import Any

from leapfrog.backup.influxdb import _diff, _quiet


def facts(points: int, series: int = 1, extra: bool = False) -> dict[str, Any]:
    measurements: dict[str, Any] = {"cpu": {"series": series, "values": {"autogen.v": points}}}
    if extra:
        measurements["mem"] = {"series": 1, "values": {"autogen.v": 1}}
    return {"metrics": measurements}


def test_without_facts_at_start_the_copy_must_be_equal() -> None:
    assert _diff(facts(10), facts(10)) == []
    assert _diff(facts(10), facts(9)) != []


def test_a_copy_between_the_two_reads_is_right() -> None:
    assert _diff(facts(20, 2), facts(15, 2), facts(10, 1)) == []
    assert _diff(facts(20, 2), facts(10, 1), facts(10, 1)) == []
    assert _diff(facts(20, 2), facts(20, 2), facts(10, 1)) == []


def test_a_copy_outside_the_two_reads_is_named() -> None:
    assert _diff(facts(20), facts(9), facts(10)) == [
        "metrics.cpu: expected {'series': 1, 'values': {'autogen.v': 20}}, "
        "found {'series': 1, 'values': {'autogen.v': 9}}"
    ]
    assert _diff(facts(20), facts(21), facts(10)) != []


def test_a_measurement_written_during_the_backup_may_be_missing_but_not_invented() -> None:
    assert _diff(facts(20, extra=True), facts(15), facts(10)) == []
    assert _diff(facts(20, extra=True), facts(15), facts(10, extra=True)) != []
    assert _diff(facts(20), facts(15, extra=True), facts(10)) != []


def test_quiet_only_when_counters_are_equal_and_nothing_was_in_flight() -> None:
    done = [("1", 5, 4, 1, 100, 0, 0)]
    assert _quiet(done, list(done))
    assert not _quiet(done, [("1", 6, 5, 1, 110, 0, 0)])  # a write meanwhile
    assert not _quiet(done, [*done, ("2", 1, 1, 0, 1, 0, 0)])  # a new shard
    in_flight = [("1", 5, 3, 1, 90, 0, 0)]
    assert not _quiet(in_flight, list(in_flight))
    assert not _quiet([("1", None, None, None, 1, 0, 0)], [("1", None, None, None, 1, 0, 0)])
