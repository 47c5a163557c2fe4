"""Following a file across rotation and truncation; kernel and journal records."""

from __future__ import annotations

import json
import os
from pathlib import Path

from leapfrog.telemetry import (
    FileFollower,
    Sample,
    journal_event,
    kmsg_event,
    prometheus_samples,
    sample_lines,
)


def test_follower_reads_new_lines_and_waits_for_a_line_end(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text("one\ntw")
    follower = FileFollower(path)
    assert follower.read_lines() == ["one"]
    with path.open("a") as out:
        out.write("o\nthree\n")
    assert follower.read_lines() == ["two", "three"]
    assert follower.read_lines() == []


def test_follower_finishes_a_rotated_file_then_reads_the_new_one(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text("a\n")
    follower = FileFollower(path)
    assert follower.read_lines() == ["a"]
    with path.open("a") as out:
        out.write("b\n")
    path.replace(tmp_path / "x.log.1")
    path.write_text("c\n")
    assert follower.read_lines() == ["b", "c"]


def test_follower_after_truncation_and_from_a_saved_position(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text("a\nb\n")
    follower = FileFollower(path)
    follower.read_lines()
    position = follower.position
    path.write_text("")
    with path.open("a") as out:
        out.write("c\n")
    assert follower.read_lines() == ["c"]
    again = FileFollower(path, at=(os.stat(path).st_ino, 0))
    assert again.read_lines() == ["c"]
    assert position is not None and position[1] == 4
    with path.open("a") as out:
        out.write("d\n")
    assert FileFollower(path, from_end=True).read_lines() == []


def test_follower_cuts_an_endless_line(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(b"x" * 200_000 + b"\nnext\n")
    lines = FileFollower(path).read_lines()
    assert [len(line) for line in lines] == [65536, 4]


def test_kmsg_record() -> None:
    parsed = kmsg_event("3,1234,5678,-;usb 1-1: device\\x20gone\n SUBSYSTEM=usb\n")
    assert parsed is not None
    seq, event = parsed
    assert seq == 1234
    assert event["level"] == "error" and event["facility"] == "kern"
    assert event["message"] == "usb 1-1: device gone" and event["kmsg_subsystem"] == "usb"
    assert kmsg_event("not a record") is None


def test_journal_entry() -> None:
    line = json.dumps(
        {
            "__CURSOR": "s=1",
            "MESSAGE": "Started x",
            "PRIORITY": "4",
            "SYSLOG_IDENTIFIER": "systemd",
            "_SYSTEMD_UNIT": "x.service",
        }
    )
    parsed = journal_event(line)
    assert parsed is not None
    cursor, event = parsed
    assert cursor == "s=1" and event["level"] == "warning" and event["unit"] == "x.service"
    raw = journal_event(json.dumps({"MESSAGE": [104, 105]}))
    assert raw is not None and raw[1]["message"] == "hi"


def test_samples_as_line_protocol() -> None:
    samples = prometheus_samples(
        '# TYPE x_total counter\nx_total{code="200",instance="a"} 3\nx_created 1\n'
    )
    assert samples == [Sample("x_total", 3.0, {"code": "200", "instance": "a"})]
    tags = {"stack": "s", "service": "svc", "instance": "svc-1", "host": "h"}
    (line,) = sample_lines([*samples, Sample("nan", float("nan"))], tags, 5)
    assert line == (
        "x_total,code=200,exported_instance=a,host=h,instance=svc-1,service=svc,stack=s value=3.0 5"
    )
