"""Per-instance usage from a /proc tree written by the test."""

from __future__ import annotations

import os
from pathlib import Path

from leapfrog.runtime.local.procstats import group_usage

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")


def _process(proc: Path, pid: int, ppid: int, pgid: int, *, rss_pages: int, ticks: int) -> None:
    """A /proc/<pid>/stat line: state, ppid, pgrp, ... utime (14th), ..., rss (24th)."""
    fields = ["S", ppid, pgid, pgid, 0, -1, 0, 0, 0, 0, 0, ticks, 0, 0, 0, 20, 0, 1, 0, 1, 0]
    fields.append(rss_pages)
    (proc / str(pid)).mkdir()
    line = f"{pid} (post gres) " + " ".join(str(f) for f in fields) + "\n"
    (proc / str(pid) / "stat").write_text(line)


def _tree(proc: Path) -> None:
    _process(proc, 1, 0, 1, rss_pages=10, ticks=1)  # init
    _process(proc, 100, 1, 100, rss_pages=20, ticks=1)  # the supervisor, leading its group
    _process(proc, 200, 100, 200, rss_pages=30, ticks=2 * _TICKS)  # postgres: the instance's leader
    _process(proc, 201, 200, 201, rss_pages=5, ticks=_TICKS)  # a backend that called setsid
    _process(
        proc, 202, 201, 202, rss_pages=1, ticks=0
    )  # ... and one below that, also its own group
    _process(proc, 300, 100, 300, rss_pages=40, ticks=0)  # haproxy: the instance's leader
    _process(proc, 301, 300, 300, rss_pages=7, ticks=0)  # its worker, in its group


def test_children_in_groups_of_their_own_count_with_their_instance(tmp_path: Path) -> None:
    """PostgreSQL's backends call setsid: they lead groups of their own, yet they are
    the instance's memory and CPU (counted apart, postgres showed 28 MiB of ~100)."""
    _tree(tmp_path)
    usage = group_usage(tmp_path, roots=frozenset({100, 200, 300}))
    assert usage[200].processes == 3
    assert usage[200].rss_bytes == 36 * _PAGE
    assert usage[200].cpu_seconds == 3.0
    assert usage[300].processes == 2 and usage[300].rss_bytes == 47 * _PAGE
    assert usage[100].processes == 1 and usage[100].rss_bytes == 20 * _PAGE
    assert 201 not in usage and 202 not in usage


def test_without_roots_processes_count_by_their_own_group(tmp_path: Path) -> None:
    _tree(tmp_path)
    usage = group_usage(tmp_path)
    assert usage[200].processes == 1 and usage[201].processes == 1
    assert usage[300].processes == 2
