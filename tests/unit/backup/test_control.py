"""`RunControl.spawn`: a program started for a run dies with the process that started it
(kill -9 included), started through `setpriv` where there is one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leapfrog.backup import control

_STARTER = """
import sys, time
from leapfrog.backup import RunControl
proc = RunControl(deadline=60, stall_after=60).spawn([sys.argv[1], "600"])
print(proc.pid, flush=True)
time.sleep(600)
"""


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":  # dead, not yet reaped by init
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("program", ["/bin/sleep", "sleep"])
def test_a_program_dies_with_the_process_that_started_it(program: str) -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", _STARTER, program], stdout=subprocess.PIPE, text=True
    )
    assert starter.stdout is not None
    pid = int(starter.stdout.readline())
    try:
        # Started in place: the program itself (once `setpriv` executed it), not a
        # wrapper waiting for it.
        deadline = time.monotonic() + 5
        while True:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2]
            if command == [program.encode(), b"600"] or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert command == [program.encode(), b"600"]
        starter.kill()
        starter.wait()
        assert _gone(pid, 5), "the program outlived the process that started it"
    finally:
        starter.kill()
        if not _gone(pid, 0):
            os.kill(pid, 9)


def test_setpriv_is_used_where_there_is_one() -> None:
    assert shutil.which("setpriv") == control._SETPRIV
