"""What each instance costs, from /proc: CPU seconds and resident memory of its whole
process group (its pid is the group's id: HAProxy's workers and PostgreSQL's backends
count with their leader)."""

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


def group_usage(proc: Path = Path("/proc")) -> dict[int, GroupUsage]:
    """Usage by process group id, for every process readable now (one pass over /proc)."""
    groups: dict[int, GroupUsage] = defaultdict(GroupUsage)
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
        usage = groups[int(fields[2])]
        usage.cpu_seconds += (int(fields[11]) + int(fields[12])) / _TICKS
        usage.rss_bytes += int(fields[21]) * _PAGE
        usage.processes += 1
    return dict(groups)
