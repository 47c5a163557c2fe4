"""Telling a process's death from a failure to look: only /proc's word counts."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from leapfrog.shared.procs import orphaned_group, process_gone, process_start_time


def test_a_running_process_is_not_gone() -> None:
    assert not process_gone(os.getpid(), process_start_time(os.getpid()))


def test_an_exited_process_is_gone_even_as_a_zombie() -> None:
    child = subprocess.Popen(["/bin/true"])
    ticks = process_start_time(child.pid)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
    assert process_gone(child.pid, ticks)
    child.wait()
    assert process_gone(child.pid, ticks)


def test_another_process_under_the_same_pid_is_gone() -> None:
    ticks = process_start_time(os.getpid())
    assert ticks is not None and process_gone(os.getpid(), ticks + 1)


def test_out_of_descriptors_is_not_death(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fds(self: Path, *args: object, **kwargs: object) -> str:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(Path, "read_text", no_fds)
    assert not process_gone(os.getpid(), None)


def test_what_a_dead_leader_left_in_its_group_and_session() -> None:
    shell = subprocess.Popen(
        ["/bin/sh", "-c", "sleep 300 >/dev/null & echo $!; read line"],  # exits when stdin closes
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert shell.stdout is not None and shell.stdin is not None
    sleeper = int(shell.stdout.readline())
    try:
        ticks = process_start_time(shell.pid)
        assert ticks is not None
        shell.stdin.close()
        shell.wait(10)
        assert orphaned_group(shell.pid, ticks) == [sleeper]
        later = process_start_time(sleeper)
        assert later is not None and orphaned_group(shell.pid, later + 1) == []
    finally:
        os.kill(sleeper, 9)
