"""`leapfrog scale NAME=N [NAME=+K ...]`: more or fewer instances of running services."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from leapfrog.cli.options import DURATION, console, file_option, running_state_paths
from leapfrog.cli.quick import DEFAULT_TIMEOUT, pairs
from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from leapfrog.runtime.local.paths import StatePaths

__all__ = ["finish", "scale"]


@click.command()
@file_option()
@click.option(
    "--timeout",
    type=DURATION,
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Stop waiting for new instances to be healthy after this long (they keep starting).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
@click.argument("counts", nargs=-1, required=True)
@click.pass_context
def scale(
    ctx: click.Context,
    stack_file: Path | None,
    timeout: float,
    as_json: bool,
    counts: tuple[str, ...],
) -> None:
    """Run N instances of a service (NAME=N), or K more or fewer (NAME=+K, NAME=-K).

    New instances get addresses of their own and join the load balancer once healthy.
    Leaving ones (the highest numbered) are taken out of the load balancer first, then
    stopped and drained, so no request in flight is lost. Returns when the leaving ones
    have stopped and the new ones are healthy.

    The stack file is not changed: `leapfrog up` brings every service back to its
    `replicas:`.
    """
    from leapfrog.runtime.local.scaling_client import request_scale

    wanted = pairs(counts)
    paths = running_state_paths(ctx, stack_file)
    deadline = time.monotonic() + timeout
    scaled = request_scale(paths, wanted, timeout=timeout + 60)
    finish(paths, scaled, deadline, as_json)


def finish(paths: StatePaths, scaled: dict[str, Any], deadline: float, as_json: bool) -> None:
    """After the supervisor took the request: wait for the new instances, say what changed.
    (cli/quick.py sends a plain `scale`'s request before click is loaded, then comes here.)"""
    from leapfrog.runtime import local
    from leapfrog.runtime.local.scaling_client import wait_started

    started = {name for entry in scaled.values() for name in entry.get("start", [])}
    states = wait_started(local.watch(paths), started, deadline) if started else {}
    bad = sorted(n for n, s in states.items() if s != "healthy")
    if as_json:
        body: dict[str, Any] = {"scaled": scaled, "states": states}
        click.echo(json.dumps(body, indent=2))
    else:
        for unit, entry in scaled.items():
            console.print(f"{unit}: {entry['from']} → {entry['to']}")
            if entry.get("start"):
                console.print(f"  started: {', '.join(entry['start'])}")
            if entry.get("stop"):
                console.print(f"  drained and stopped: {', '.join(entry['stop'])}")
            if entry.get("stale"):
                console.print(
                    f"  [yellow]note:[/] {', '.join(entry['stale'])} run an older launch than "
                    "the stack file says (`leapfrog up` applies it)"
                )
    if bad:
        raise LeapfrogError(
            f"{len(bad)} new instance(s) not healthy: "
            + ", ".join(f"{n} ({states[n]})" for n in bad),
            hint="`leapfrog status` and `leapfrog logs NAME` show why",
        )
    if not as_json:
        console.print("[green]✓[/] done")
