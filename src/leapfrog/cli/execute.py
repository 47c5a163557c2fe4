"""`leapfrog exec NAME|NAME-N|--all -- CMD ARGS`: a command in each instance's context."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import click

from leapfrog.cli.kube_options import cluster_options
from leapfrog.cli.options import DURATION, console, file_option, load_chosen, state_paths
from leapfrog.shared.errors import LeapfrogError

__all__ = ["exec"]

_COLORS = ("cyan", "green", "yellow", "magenta", "blue", "bright_cyan", "bright_green")


class _SplitAtDashes(click.Command):
    """Everything after `--` is the command, untouched by option parsing (click would
    otherwise take `-l` of `ls -l` for an option of its own)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            at = args.index("--")
            ctx.meta["exec_argv"] = args[at + 1 :]
            args = args[:at]
        return super().parse_args(ctx, args)


@click.command(name="exec", cls=_SplitAtDashes)
@file_option()
@click.option("--all", "every", is_flag=True, help="Every instance of every service.")
@click.option(
    "-p",
    "--parallel",
    type=click.IntRange(min=1),
    default=None,
    help="Run in at most this many instances at once (default: all at once).",
)
@click.option(
    "--timeout",
    type=DURATION,
    default=None,
    help="Kill the command (and what it started) in an instance after this long (e.g. 30s).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object with every result at the end."
)
@click.option(
    "--target",
    type=click.Choice(["local", "kubernetes"]),
    default="local",
    show_default=True,
    help="Where the instances run: this machine's supervisor, or the stack's pods on the "
    "cluster (through the pods' exec API).",
)
@cluster_options
@click.option(
    "-n",
    "--namespace",
    default=None,
    help="With --target kubernetes: the namespace (default: the stack file's "
    "kubernetes.namespace, or the stack's name).",
)
@click.argument("names", nargs=-1, metavar="NAME|NAME-N... -- CMD [ARGS]...")
@click.pass_context
def exec_command(
    ctx: click.Context,
    *,
    stack_file: Path | None,
    target: str,
    kubeconfig: Path | None,
    context: str | None,
    namespace: str | None,
    every: bool,
    parallel: int | None,
    timeout: float | None,
    as_json: bool,
    names: tuple[str, ...],
) -> None:
    """Run a command in each chosen instance's context: its environment, user, working
    directory and address (HOST, PORT, LEAPFROG_INSTANCE, its dependencies' and the
    platform's connection settings).

    \b
    leapfrog exec web -- printenv LEAPFROG_INSTANCE     every instance of web
    leapfrog exec web-2 -- sh -c 'ls $LEAPFROG_DATA_DIR' one instance
    leapfrog exec --all --parallel 2 --timeout 30s -- ./check.sh
    leapfrog exec --target kubernetes web -- printenv HOSTNAME   each pod of web

    On Kubernetes NAME is a service (its running pods) or a pod's name. Output lines
    are prefixed by the instance; a table of exit codes follows. Exits 1 when the
    command failed (or could not run, or timed out) in any instance.
    """
    argv: list[str] = ctx.meta.get("exec_argv", [])
    if not argv:
        raise LeapfrogError(
            "no command given", hint="put it after --: leapfrog exec web -- printenv HOST"
        )
    if not names and not every:
        raise LeapfrogError(
            "which instances?", hint="name a service (web), an instance (web-2), or --all"
        )
    colors: dict[str, str] = {}
    lock = threading.Lock()

    def on_line(instance: str, stream: str, line: str) -> None:
        color = colors.setdefault(instance, _COLORS[len(colors) % len(_COLORS)])
        prefix = click.style(f"{instance} |", fg=color)
        with lock:
            click.echo(f"{prefix} {line}", err=stream == "stderr")

    if target == "kubernetes":
        from leapfrog.runtime import kubernetes

        kube = kubernetes.kube_context(load_chosen(ctx, stack_file))
        results = kubernetes.exec_in_pods(
            kubeconfig,
            context,
            namespace or kube.namespace,
            stack=kube.stack,
            names=names,
            every=every,
            argv=argv,
            parallel=parallel or 0,
            timeout=timeout,
            on_line=None if as_json else on_line,
        )
    else:
        from leapfrog.runtime.local.execution import exec_all

        results = exec_all(
            state_paths(ctx, stack_file),
            names,
            every,
            argv,
            parallel=parallel or 0,
            timeout=timeout,
            on_line=None if as_json else on_line,
        )
    failed = [r for r in results if not r.ok]
    failure = LeapfrogError(
        f"the command failed in {len(failed)} of {len(results)} instance(s): "
        + ", ".join(r.instance for r in failed),
        hint="their output is " + ("in the results" if as_json else "above, prefixed by instance"),
    )
    if as_json:
        body: dict[str, Any] = {
            "command": argv,
            "results": [r.as_json() for r in results],
            "total": len(results),
            "failed": len(failed),
        }
        click.echo(json.dumps(body, indent=2))
        if failed:
            raise failure
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("INSTANCE", "EXIT", "TIME", "NOTE"):
        table.add_column(column, justify="right" if column in ("EXIT", "TIME") else "left")
    for r in results:
        code = "-" if r.exit_code is None else str(r.exit_code)
        style = "green" if r.ok else "red"
        table.add_row(r.instance, f"[{style}]{code}[/]", f"{r.seconds:.2f}s", r.error or "")
    console.print(table)
    if failed:
        raise failure
    console.print(f"[green]✓[/] exit 0 in all {len(results)} instance(s)")


exec = exec_command
"""The name the command group looks the command up by (`leapfrog exec`)."""
