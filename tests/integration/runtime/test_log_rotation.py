"""Instance logs rotate while the instance runs, and `leapfrog logs -f` follows them
across every rotation without losing a line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from leapfrog.testing import StackDir, wait_until

from ..conftest import PYTHON

APPS = Path(__file__).parent.parent / "apps"
COUNT = 6000  # 70 bytes a line: 420 KB, six rotations of 64 KiB


def test_logs_follow_reads_every_line_across_rotations() -> None:
    with StackDir(catalog=False) as stack:
        stack.copy_in(APPS / "flood.py")
        stack.write(
            "services:\n"
            "  flood:\n"
            f"    command: {PYTHON} flood.py\n"
            f"    env: {{COUNT: '{COUNT}'}}\n"
            "    logs: {max_size: 64KiB, max_files: 4}\n"
        )
        assert stack.up().code == 0
        follower = subprocess.Popen(
            [sys.executable, "-m", "leapfrog", "logs", "-f", "flood"],
            cwd=stack.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        )
        lines: list[str] = []
        finished = threading.Event()

        def read() -> None:
            assert follower.stdout is not None
            for line in follower.stdout:
                lines.append(line.rstrip("\n"))
                if line.startswith("done"):
                    finished.set()
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            wait_until(lambda: any("starting at" in x for x in lines), what="the follower's tail")
            (stack.root / ".leapfrog/data/flood-1/go").write_text("")
            assert finished.wait(120), f"no `done` after {len(lines)} lines"
        finally:
            follower.kill()
            follower.wait()
        numbers = [int(x[5:13]) for x in lines if x.startswith("line ")]
        assert numbers == list(range(COUNT))
        logs = stack.root / ".leapfrog/logs"
        kept = sorted(p.name for p in logs.glob("flood-1.log*"))
        assert kept == ["flood-1.log", "flood-1.log.1", "flood-1.log.2", "flood-1.log.3"]
        assert sum((logs / name).stat().st_size for name in kept) <= 4 * 64 * 1024
        assert stack.down().code == 0


def test_output_written_while_no_supervisor_runs_is_kept() -> None:
    """A supervisor SIGKILLed: its instance writes on (2 MB, twice its pipe) without
    EPIPE/SIGPIPE, waiting on the full pipe; the next `up` adopts it and drains the pipe:
    every line reaches the log, and the process never died."""
    count = 30_000
    with StackDir(catalog=False) as stack:
        stack.copy_in(APPS / "flood.py")
        stack.write(
            "services:\n"
            "  flood:\n"
            f"    command: {PYTHON} flood.py\n"
            f"    env: {{COUNT: '{count}', PACE: '0'}}\n"
        )
        assert stack.up().code == 0
        pid = stack.instance("flood-1")["pid"]
        os.kill(stack.state_file()["supervisor"]["pid"], signal.SIGKILL)
        (stack.root / ".leapfrog/data/flood-1/go").write_text("")
        log = stack.root / ".leapfrog/logs/flood-1.log"
        time.sleep(1)  # it writes and fills its pipe; nothing drains it
        assert b"done" not in log.read_bytes()
        result = stack.up()
        assert result.code == 0, result.output
        assert "adopted flood-1" in result.stdout
        wait_until(lambda: b"\ndone\n" in log.read_bytes(), what="the rest of the output")
        assert stack.instance("flood-1")["pid"] == pid  # the same process, never killed
        numbers = [int(x[5:13]) for x in log.read_text().splitlines() if x.startswith("line ")]
        assert numbers == list(range(count))
        assert stack.down().code == 0


def test_new_log_limits_apply_to_a_running_instance() -> None:
    """`up` with other `logs:` keeps the process and rotates by the new limits."""
    with StackDir(catalog=False) as stack:
        stack.copy_in(APPS / "flood.py")
        service = (
            "services:\n"
            "  flood:\n"
            f"    command: {PYTHON} flood.py\n"
            "    env: {COUNT: '3000', PACE: '0'}\n"
        )
        stack.write(service)
        assert stack.up().code == 0
        pid = stack.instance("flood-1")["pid"]
        stack.write(service + "    logs: {max_size: 64KiB, max_files: 2}\n")
        result = stack.up()
        assert result.code == 0, result.output
        assert stack.instance("flood-1")["pid"] == pid
        (stack.root / ".leapfrog/data/flood-1/go").write_text("")  # 210 KB
        logs = stack.root / ".leapfrog/logs"
        wait_until(lambda: b"done" in (logs / "flood-1.log").read_bytes(), what="done")
        kept = sorted(p.name for p in logs.glob("flood-1.log*"))
        assert kept == ["flood-1.log", "flood-1.log.1"]
        assert all((logs / name).stat().st_size <= 64 * 1024 for name in kept)
        assert stack.down().code == 0
