"""`leapfrog logs` right after a rotation still shows the lines asked for."""

from __future__ import annotations

from pathlib import Path

from leapfrog.cli.logs import last_lines


def test_lines_come_from_the_rotated_file_too(tmp_path: Path) -> None:
    log = tmp_path / "web-1.log"
    (tmp_path / "web-1.log.1").write_text("one\ntwo\nthree\nfou")  # `four` was cut there
    log.write_text("four\nfive\n")
    assert last_lines(log, 4) == ["two", "three", "four", "five"]
    assert last_lines(log, 2) == ["four", "five"]
    assert last_lines(log, 10) == ["one", "two", "three", "four", "five"]


def test_a_rotated_file_ending_with_its_line_keeps_it(tmp_path: Path) -> None:
    log = tmp_path / "web-1.log"
    (tmp_path / "web-1.log.1").write_text("one\ntwo\n")
    log.write_text("three\n")
    assert last_lines(log, 2) == ["two", "three"]
    assert last_lines(tmp_path / "absent.log", 3) == []
