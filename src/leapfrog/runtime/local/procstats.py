"""What each instance costs, from /proc: CPU seconds and resident memory of its whole
process group (its pid is the group's id: HAProxy's workers count with their leader).
A child that left for a group of its own (PostgreSQL's backends and background workers
call setsid) still counts with its parent's group, unless it is one of the `roots`."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GroupUsage", "group_usage"]

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class GroupUsage:
    cpu_seconds: float = 0.0
    rss_bytes: int = 0
    processes: int = 0


def group_usage(
    proc: Path = Path("/proc"), roots: frozenset[int] | None = None
) -> dict[int, GroupUsage]:
    """Usage by process group id, for every process readable now (one pass over /proc).
    `roots` are the groups asked for (the instances' pids, the supervisor's group): given
    them, a process leading a group that is not one of them counts with its parent's."""
    parents: dict[int, int] = {}
    owns: dict[int, tuple[int, GroupUsage]] = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{entry.path}/stat", "rb") as stat:
                text = stat.read().decode("ascii", errors="replace")
        except OSError:
            continue  # gone between the listing and the read
        # The command name is in parentheses and may hold spaces: fields follow the last ')'.
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) < 22:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        cpu = (int(fields[11]) + int(fields[12])) / _TICKS
        owns[pid] = (int(fields[2]), GroupUsage(cpu, int(fields[21]) * _PAGE, 1))
    groups: dict[int, GroupUsage] = defaultdict(GroupUsage)
    for pid, (own_group, own) in owns.items():
        usage = groups[_counted_in(pid, own_group, owns, parents, roots)]
        usage.cpu_seconds += own.cpu_seconds
        usage.rss_bytes += own.rss_bytes
        usage.processes += 1
    return dict(groups)


def _counted_in(
    pid: int,
    group: int,
    owns: dict[int, tuple[int, GroupUsage]],
    parents: dict[int, int],
    roots: frozenset[int] | None,
) -> int:
    """The group a process counts in: its own, or (a leader that is not a root) its
    parent's, up the chain (bounded: /proc may change while it is read)."""
    for _ in range(64):
        if roots is None or group != pid or pid in roots or parents.get(pid) not in owns:
            break
        pid = parents[pid]
        group = owns[pid][0]
    return group
