"""The log writer: a real process's output through its FIFO into size-bounded files,
followed across rotations without a lost line."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from leapfrog.runtime.local.logwriter import LogLimits, LogWriter, rotated_paths
from leapfrog.telemetry import FileFollower

_WRITER = """
import sys
count, width = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
for n in range(count):
    out.write(f"line {n:08d} " + "x" * width + "\\n")
"""


def _run(writer: LogWriter, log: Path, limits: LogLimits, count: int, width: int) -> None:
    fd = writer.output_for("web-1", log, limits)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(count), str(width)], stdout=fd, stderr=fd
        )
    finally:
        os.close(fd)
    assert proc.wait(timeout=120) == 0


def _disk(log: Path, limits: LogLimits) -> list[Path]:
    return [p for p in [log, *rotated_paths(log, limits.max_files + 1)] if p.exists()]


def test_fifty_megabytes_keep_at_most_size_times_count(tmp_path: Path) -> None:
    limits = LogLimits(max_size=1 << 20, max_files=3)
    writer = LogWriter(tmp_path / "pipes")
    writer.start()
    log = tmp_path / "web-1.log"
    count, width = 500_000, 90  # 100 bytes a line: 50 MB
    try:
        _run(writer, log, limits, count, width)
    finally:
        writer.close()
    files = _disk(log, limits)
    assert len(files) == 3, files
    assert sum(p.stat().st_size for p in files) <= limits.max_size * limits.max_files
    assert not log.with_name("web-1.log.3").exists()
    last = log.read_bytes().splitlines()[-1].decode()
    assert last.startswith(f"line {count - 1:08d} ")
    # The newest files hold the newest lines, whole and in order; a file that is not the
    # newest may end in a cut line, which the next one starts with.
    numbers: list[int] = []
    for path in reversed(files):
        whole = path.read_bytes().split(b"\n")[:-1]
        assert all(len(line) == 14 + width for line in whole)
        numbers += [int(line[5:13]) for line in whole]
    assert numbers == list(range(numbers[0], count))


def test_a_follower_reads_every_line_across_rotations(tmp_path: Path) -> None:
    """The collector's FileFollower (also `logs -f`'s) sees every line once, in order."""
    limits = LogLimits(max_size=64 * 1024, max_files=4)
    writer = LogWriter(tmp_path / "pipes")
    writer.start()
    log = tmp_path / "web-1.log"
    log.touch()
    seen: list[str] = []
    done = threading.Event()

    def follow() -> None:
        follower = FileFollower(log)
        while True:
            last_turn = done.is_set()
            seen.extend(follower.read_lines())
            if last_turn:
                return
            time.sleep(0.005)

    reader = threading.Thread(target=follow)
    reader.start()
    count = 0
    try:
        fd = writer.output_for("web-1", log, limits)
        try:
            # Paced: a follower may lag by max_files - 1 files, never by more.
            for burst in range(40):
                lines = "".join(f"line {burst * 300 + n:08d} {'y' * 61}\n" for n in range(300))
                os.write(fd, lines.encode())  # 300 lines, 22 KB: a rotation every 3 bursts
                count += 300
                time.sleep(0.02)
        finally:
            os.close(fd)
        writer.drain()
    finally:
        writer.close()
        done.set()
        reader.join(30)
    numbers = [int(line[5:13]) for line in seen]
    assert numbers == list(range(count))
    assert len(rotated_paths(log, 3)) == 3 and log.with_name("web-1.log.3").exists()


def test_lines_cut_by_the_size_limit_start_the_next_file_whole(tmp_path: Path) -> None:
    limits = LogLimits(max_size=64 * 1024, max_files=2)
    writer = LogWriter(tmp_path / "pipes")
    log = tmp_path / "web-1.log"
    fd = writer.output_for("web-1", log, limits)
    try:
        os.write(fd, b"a" * 40_000 + b"\n" + b"b" * 20_000 + b"\n" + b"c" * 10_000 + b"\n")
        writer.drain()
    finally:
        os.close(fd)
        writer.close()
    newest = log.read_bytes()
    assert newest == b"c" * 10_000 + b"\n"
    assert log.with_name("web-1.log.1").stat().st_size == 64 * 1024


def test_a_pipe_without_reader_keeps_the_output_for_the_next_writer(tmp_path: Path) -> None:
    """A supervisor gone (its writer closed) loses nothing: the instance holds its pipe,
    and the next supervisor's writer drains it by the FIFO's name."""
    limits = LogLimits(max_size=1 << 20, max_files=2)
    log = tmp_path / "web-1.log"
    first = LogWriter(tmp_path / "pipes")
    fd = first.output_for("web-1", log, limits)
    first.close()
    try:
        os.write(fd, b"written while no supervisor ran\n")  # no EPIPE, no SIGPIPE
        second = LogWriter(tmp_path / "pipes")
        assert second.follow("web-1", log, limits)
        second.drain()
        second.close()
    finally:
        os.close(fd)
    assert log.read_bytes() == b"written while no supervisor ran\n"


def test_the_collector_ships_every_line_across_rotations(tmp_path: Path) -> None:
    """The supervisor's LogPump, reading the file the writer rotates, ships each line once."""
    from leapfrog.runtime.local.logpump import FileSource, LogPump
    from leapfrog.telemetry import PLAIN, LogAssembler

    limits = LogLimits(max_size=64 * 1024, max_files=4)
    writer = LogWriter(tmp_path / "pipes")
    log = tmp_path / "web-1.log"
    shipped: list[str] = []
    pump = LogPump(
        lambda _key, event: shipped.append(str(event["message"])),
        tmp_path / "positions.json",
        lambda _text: None,
    )
    fixed: dict[str, object] = {"service": "web", "instance": "web-1"}
    pump.add_file(FileSource("web-1", log, LogAssembler(PLAIN, "web-1"), fixed))
    fd = writer.output_for("web-1", log, limits)
    pump.poll_once()  # the collector has the file open before the instance writes
    count = 0
    try:
        for burst in range(30):  # 30 x 21 KB: ten rotations, one or two between polls
            lines = "".join(f"line {burst * 300 + n:08d} {'w' * 56}\n" for n in range(300))
            os.write(fd, lines.encode())
            count += 300
            writer.drain()
            if burst % 5 == 4:
                pump.poll_once()
        writer.drain()
        pump.poll_once(final=True)
    finally:
        os.close(fd)
        writer.close()
        pump.close()
    numbers = [int(text[5:13]) for text in shipped]
    assert numbers == list(range(count))
