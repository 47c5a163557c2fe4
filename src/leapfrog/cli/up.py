"""`leapfrog up`: start the stack, or apply the stack file to the running one.

Without click: `up` is what users wait for most, and the console script runs a plain
`up` straight from cli/quick.py, so click (and its `inspect`, `gettext`: 12-15 ms of
CPU before the supervisor forks) is not loaded on its way. The click command in
cli/app.py parses the same options and calls `run_up`.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leapfrog.cli.consoles import console, err
from leapfrog.runtime import local
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.loading import collector_paused

if TYPE_CHECKING:
    from leapfrog.spec import Stack

__all__ = ["cleaned", "run_up"]


def run_up(stack_file: Path, detach: bool, timeout: float | None) -> None:
    """`up [-d] [--timeout D]` of the stack file `stack_file` (see `up --help`)."""
    from leapfrog.cli.install import installer

    started = _started()
    with collector_paused():
        from leapfrog.spec import load_stack  # pydantic and the models

        stack = load_stack(stack_file)
    paths = local.StatePaths(stack.state_dir)
    pid = local.running(paths)
    if pid is not None:
        from leapfrog.cli import views

        changes = local.apply(stack, installer(console))
        _print_changes(changes, pid)
        _print_notes(changes.get("notes", []))
        snapshots = local.watch(paths)
        verdict, snapshot = views.follow_with_deadline(snapshots, console, started, timeout)
        _report(stack, verdict, snapshot, started, detached=True)
        return
    with collector_paused():  # the runtime's modules, loaded for the supervisor
        prepared = local.prepare(stack, on_cleanup=cleaned, installer=installer(console))
    _print_notes(prepared.notes)
    for name in prepared.adopt:
        behind = prepared.carried.get(name)
        how = f" at revision {behind}, its rollout resumes" if behind is not None else ""
        console.print(f"adopted {name} from an earlier supervisor{how}", style="dim")
    if detach:
        local.start_detached(prepared)
        from leapfrog.cli import views  # rich's tables: after the fork, off the daemon's path

        snapshots = local.watch(prepared.paths)
        verdict, snapshot = views.follow_with_deadline(snapshots, console, started, timeout)
        _report(stack, verdict, snapshot, started, detached=True)
        return

    from leapfrog.cli.foreground import foreground_view

    def report(verdict: local.Readiness, snapshot: dict[str, Any]) -> None:
        with contextlib.suppress(LeapfrogError):  # in the foreground, failures are shown, not fatal
            _report(stack, verdict, snapshot, started, detached=False)

    local.run_foreground(prepared, companion=foreground_view(console, started, report))
    console.print("stopped.")


def _print_changes(changes: dict[str, list[str]], pid: int) -> None:
    console.print(f"the stack is already up (supervisor pid {pid}); applying the stack file:")
    labels = {
        "start": "start",
        "stop": "stop",
        "replace": "replace (one at a time)",
        "reconfigure": "set up again with new options",
        "intentions": "intentions",
    }
    for key, label in labels.items():
        if changes.get(key):
            console.print(f"  {label}: {', '.join(changes[key])}")
    if not any(changes.get(k) for k in labels):
        console.print("  nothing changed")


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)


def _started() -> float:
    import leapfrog.cli

    return leapfrog.cli.STARTED


def _report(
    stack: Stack, verdict: local.Readiness, snapshot: dict[str, Any], started: float, detached: bool
) -> None:
    from leapfrog.cli import views

    elapsed = time.monotonic() - started
    console.print(views.status_table(snapshot))
    if verdict.verdict in ("failed", "timeout"):
        views.print_failures(err, verdict)
        raise LeapfrogError(
            f"{len(verdict.failures)} instance(s) of stack {stack.name} failed to come up",
            hint="the rest keeps running: fix it, then `leapfrog restart NAME`; or `leapfrog down`",
        )
    if verdict.verdict == "ready":
        console.print(
            f"[green]✓[/] stack [bold]{stack.name}[/] is up: "
            f"{verdict.total} instance(s) healthy in {elapsed:0.2f}s"
        )
        if detached:
            console.print(
                "  [dim]leapfrog status[/] · [dim]leapfrog logs -f NAME[/] · [dim]leapfrog down[/]"
            )
        else:
            console.print("  [dim]Ctrl-C stops the stack[/]")


def cleaned(item: local.Leftover) -> None:
    what = f"pid {item.pid}" if item.pid is not None else "what its dead process started"
    console.print(
        f"stopped {item.name} ({what}), left over from an earlier supervisor", style="dim"
    )
