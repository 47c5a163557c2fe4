"""Processes by pid, safely: a pid is only trusted together with its start time.

The kernel reuses pids, so every record of a process leapfrog started keeps the
start time from /proc/PID/stat; a pid whose start time differs is someone else.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = [
    "cmdline",
    "group_alive",
    "group_members",
    "is_running",
    "kill_group",
    "kill_process",
    "orphaned_group",
    "process_gone",
    "process_start_time",
]


def process_start_time(pid: int) -> int | None:
    """Clock ticks since boot at which `pid` started, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields follow the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited; only its exit status is left
        return None
    return int(fields[19])


def process_gone(pid: int, start_time: int | None) -> bool:
    """True only when /proc says so: `pid` is no more, a zombie, or another process (its
    start time differs). An error that is not about the process (out of descriptors,
    say) is not taken for its death."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    except OSError:
        return False
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0] == "Z" or (start_time is not None and int(fields[19]) != start_time)


def is_running(pid: int, start_time: int | None) -> bool:
    """True when `pid` runs and is the very process that started at `start_time`."""
    current = process_start_time(pid)
    return current is not None and (start_time is None or current == start_time)


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() or "?"


def group_members(pgid: int) -> list[int]:
    """Pids in process group `pgid` that have not exited (zombies are left out)."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # kill(0) also succeeds for zombies nobody has reaped yet; look closer.
    return bool(group_members(pgid))


def kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def kill_process(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def orphaned_group(leader: int, since: int) -> list[int]:
    """What is left of the process group and session of a leader that is gone: processes
    with `leader` as both group and session id, started at or after its start time
    `since`. A reused pid would have to wrap the whole pid space and then lead a new
    session to be mistaken for it."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        if fields[0] == "Z" or int(fields[2]) != leader or int(fields[3]) != leader:
            continue
        if int(fields[19]) >= since:
            members.append(int(entry.name))
    return members
