"""What the CLI shows: status tables, start-up progress, failures with their last log lines."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from leapfrog.runtime.local import Readiness, readiness, timed_out
from leapfrog.shared.durations import format_duration
from leapfrog.shared.files import tail_lines

__all__ = [
    "follow_startup",
    "follow_with_deadline",
    "print_changes",
    "print_failures",
    "replica_counts",
    "status_table",
]

STATE_STYLE = {
    "starting": "yellow",
    "healthy": "green",
    "unhealthy": "red",
    "crashloop": "bold red",
    "stopped": "dim",
}


def _endpoint(item: dict[str, Any]) -> str:
    port = item.get("port")
    return f"{item['address']}:{port}" if port else str(item["address"])


def status_table(snapshot: dict[str, Any], spinners: bool = False) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("INSTANCE", "STATE", "ADDRESS", "VERSION", "PID", "RESTARTS", "DETAIL"):
        table.add_column(column, no_wrap=column != "DETAIL")
    for item in snapshot.get("instances", []):
        state = str(item.get("state"))
        shown: RenderableType = Text(state, style=STATE_STYLE.get(state, ""))
        if spinners and state == "starting":
            from rich.spinner import Spinner

            shown = Spinner("dots", text=shown, style="yellow")
        table.add_row(
            item["name"],
            shown,
            _endpoint(item),
            str(item.get("version") or "-"),
            str(item.get("pid") or "-"),
            str(item.get("restarts", 0)),
            Text(_detail(item), overflow="fold"),
        )
    return table


def replica_counts(snapshot: dict[str, Any]) -> list[str]:
    """`web: 4/6 healthy` for each service whose healthy instances are not what it should
    run (the stack file's `replicas:`, or what `leapfrog scale` asked for)."""
    lines = []
    for name, unit in (snapshot.get("units") or {}).items():
        desired = unit.get("replicas")
        if unit.get("kind") != "service" or not isinstance(desired, int):
            continue
        mine = [i for i in snapshot.get("instances", []) if i.get("unit") == name]
        healthy = sum(1 for i in mine if i.get("state") == "healthy")
        if healthy != desired or len(mine) != desired:
            lines.append(f"{name}: {healthy}/{desired} healthy")
    return lines


def autoscale_lines(snapshot: dict[str, Any]) -> list[str]:
    """`web: autoscale 2 -> 4 (why)` for each autoscaled service: its last decision."""
    lines = []
    for name, unit in (snapshot.get("units") or {}).items():
        last = unit.get("autoscale")
        if isinstance(last, dict):
            lines.append(
                f"{name}: autoscale {last.get('current')} -> {last.get('desired')} "
                f"({last.get('reason')})"
            )
    return lines


def _detail(item: dict[str, Any]) -> str:
    """A healthy platform unit shows what its probe saw (`Kafka 4.1.0, 3 topics`)."""
    if (
        item.get("state") == "healthy"
        and item.get("kind") == "component"
        and item.get("last_check")
    ):
        return str(item["last_check"])
    return str(item.get("detail", ""))


def _headline(verdict: Readiness, elapsed: float) -> Text:
    return Text.assemble(
        (f"{verdict.healthy}/{verdict.total} healthy", "bold"), f"  {elapsed:0.1f}s"
    )


def follow_startup(
    snapshots: Iterable[dict[str, Any]],
    console: Console,
    started: float,
    timeout: float | None = None,
) -> tuple[Readiness, dict[str, Any]]:
    """Show progress until the stack is ready, something failed, or `timeout` passed."""
    stream: Iterator[dict[str, Any]] = _until(iter(snapshots), started, timeout)
    verdict = Readiness("waiting", [], 0, 0)
    last: dict[str, Any] = {}
    if console.is_terminal:
        from rich.live import Live  # only terminals get the live view: keep pipes light

        with Live(console=console, refresh_per_second=12, transient=True) as live:
            for last in stream:
                verdict = readiness(last)
                elapsed = time.monotonic() - started
                live.update(Group(_headline(verdict, elapsed), status_table(last, True)))
                if verdict.verdict != "waiting":
                    break
        return verdict, last
    seen: dict[str, str] = {}
    for last in stream:
        verdict = readiness(last)
        print_changes(last, seen, console, started)
        if verdict.verdict != "waiting":
            break
    return verdict, last


def print_changes(
    snapshot: dict[str, Any], seen: dict[str, str], console: Console, started: float
) -> None:
    """One line per instance whose state or detail changed since `seen` (updated in place)."""
    for item in snapshot.get("instances", []):
        detail = item.get("detail", "")
        key = f"{item['state']} {detail}"
        if seen.get(item["name"]) != key:
            seen[item["name"]] = key
            elapsed = time.monotonic() - started
            console.print(
                f"{elapsed:6.2f}s  {item['name']:<24} {item['state']:<10} {detail}",
                highlight=False,
                markup=False,
            )


class _Deadline(Exception):
    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot


def _until(
    stream: Iterator[dict[str, Any]], started: float, timeout: float | None
) -> Iterator[dict[str, Any]]:
    for snapshot in stream:
        if timeout is not None and time.monotonic() - started > timeout:
            raise _Deadline(snapshot)
        yield snapshot


def follow_with_deadline(
    snapshots: Iterable[dict[str, Any]], console: Console, started: float, timeout: float | None
) -> tuple[Readiness, dict[str, Any]]:
    try:
        return follow_startup(snapshots, console, started, timeout)
    except _Deadline as late:
        assert timeout is not None
        return timed_out(late.snapshot, format_duration(timeout)), late.snapshot


def print_failures(console: Console, verdict: Readiness, lines: int = 15) -> None:
    for item in verdict.failures:
        console.print(f"[bold red]✗ {item['name']}[/]: {item['failure']}", highlight=False)
        tail = tail_lines_of(item)
        if tail:
            console.print(f"  last {len(tail[-lines:])} lines of {item['log']}:", style="dim")
            for line in tail[-lines:]:
                console.print(Text("  │ " + line))


def tail_lines_of(item: dict[str, Any], count: int = 15) -> list[str]:
    return tail_lines(Path(item["log"]), count) if item.get("log") else []
