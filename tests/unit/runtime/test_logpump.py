"""The collector's log thread, polled by hand: records from files, a source that cannot
be read reported once (not once per poll), positions kept for the next collector."""

from __future__ import annotations

import json
from pathlib import Path

from leapfrog.runtime.local.logpump import FileSource, LogPump, ReaderSource
from leapfrog.telemetry import PLAIN, LogAssembler


class Unreadable:
    opened = 0

    def open(self) -> None:
        self.opened += 1
        raise PermissionError(13, "Permission denied")

    def read(self, limit: int = 2000) -> list[dict[str, object]]:
        raise AssertionError("never opened")

    def close(self) -> None:
        pass


def _pump(tmp_path: Path) -> tuple[LogPump, list[tuple[str, dict[str, object]]], list[str]]:
    shipped: list[tuple[str, dict[str, object]]] = []
    reports: list[str] = []
    pump = LogPump(
        lambda key, event: shipped.append((key, event)), tmp_path / "pos.json", reports.append
    )
    return pump, shipped, reports


def test_lines_become_events_with_the_fixed_fields(tmp_path: Path) -> None:
    log = tmp_path / "web-1.log"
    log.write_text("hello\nTraceback (most recent call last):\n  x\nValueError: y\n")
    pump, shipped, _ = _pump(tmp_path)
    fixed = {"service": "web", "instance": "web-1"}
    pump.add_file(FileSource("web-1", log, LogAssembler(PLAIN, "web-1"), fixed))
    pump.poll_once(final=True)
    assert [(key, e["message"], e["service"]) for key, e in shipped] == [
        ("web-1", "hello", "web"),
        ("web-1", "Traceback (most recent call last):", "web"),
    ]
    saved = json.loads((tmp_path / "pos.json").read_text())
    assert saved["web-1"][1] == log.stat().st_size
    # A new pump (a restarted supervisor) goes on after what was shipped.
    with log.open("a") as out:
        out.write("later\n")
    again, shipped_again, _ = _pump(tmp_path)
    again.add_file(FileSource("web-1", log, LogAssembler(PLAIN, "web-1"), fixed))
    again.poll_once(final=True)
    assert [e["message"] for _, e in shipped_again] == ["later"]


def test_an_unreadable_source_is_reported_once(tmp_path: Path) -> None:
    pump, shipped, reports = _pump(tmp_path)
    reader = Unreadable()
    pump.add_reader(ReaderSource("kmsg", reader, {"instance": "box"}))
    missing = FileSource(
        "syslog",
        tmp_path / "no-syslog",
        LogAssembler(PLAIN),
        {"instance": "box", "source": "syslog"},
        from_end=True,
    )
    pump.add_file(missing)
    for _ in range(50):
        pump.poll_once()
    assert reader.opened == 1  # not retried before RETRY_EVERY
    assert len(reports) == 2 and all("skipped" in r for r in reports), reports
    assert shipped == []


def test_an_instance_log_not_written_yet_is_no_failure(tmp_path: Path) -> None:
    pump, _, reports = _pump(tmp_path)
    fixed = {"instance": "web-1"}
    pump.add_file(FileSource("web-1", tmp_path / "web-1.log", LogAssembler(PLAIN), fixed))
    pump.poll_once()
    assert reports == []
