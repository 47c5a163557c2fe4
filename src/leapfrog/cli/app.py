"""The `leapfrog` command: its options and subcommands."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import click

from leapfrog import __version__
from leapfrog.cli.options import (
    DURATION,
    FILE_HELP,
    chosen_path,
    console,
    file_option,
    load_chosen,
    state_paths,
)
from leapfrog.cli.up import cleaned, run_up
from leapfrog.runtime import local

__all__ = ["cli"]

_GROUPS = {
    "secrets": "leapfrog.cli.secrets",
    "backup": "leapfrog.cli.backup",
    "catalog": "leapfrog.cli.catalog",
    "render": "leapfrog.cli.render",
    "apply": "leapfrog.cli.apply",
    "rollout": "leapfrog.cli.rollout",
    "lb": "leapfrog.cli.lb",
    "pipeline": "leapfrog.cli.pipeline",
    "console": "leapfrog.cli.console",
    "template": "leapfrog.cli.template",
    "exec": "leapfrog.cli.execute",
    "scale": "leapfrog.cli.scale",
    "volume": "leapfrog.cli.volume",
    "image": "leapfrog.cli.image",
}
"""Commands of their own modules, imported only when run (or listed by --help): each
brings its own heavy imports (Kubernetes' client, Kafka's, the backup engines)."""


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_GROUPS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = _GROUPS.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            command = getattr(importlib.import_module(module), cmd_name)
            assert isinstance(command, click.Command)
            self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "-f",
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="LEAPFROG_FILE",
    help=FILE_HELP,
)
@click.version_option(__version__, "-V", "--version", prog_name="leapfrog")
@click.pass_context
def cli(ctx: click.Context, file: Path | None) -> None:
    """leapfrog runs a whole service platform from one stack file.

    \b
    Start here:
      leapfrog up -d        start the stack in leapfrog.yaml and wait until it is healthy
      leapfrog status       what runs, where, and how it is doing
      leapfrog logs -f web  follow a service's output
      leapfrog down         stop everything
    """
    ctx.ensure_object(dict)
    ctx.obj["file"] = file


@cli.command()
@file_option()
@click.option("--json", "as_json", is_flag=True, help="Print the validated stack as JSON.")
@click.pass_context
def validate(ctx: click.Context, stack_file: Path | None, as_json: bool) -> None:
    """Check a stack file and report every problem with its line."""
    stack = load_chosen(ctx, stack_file)
    if as_json:
        click.echo(stack.spec.model_dump_json(indent=2))
        return
    services = len(stack.spec.services)
    console.print(
        f"[green]✓[/] {stack.path} is valid: stack [bold]{stack.name}[/], "
        f"{services} service(s), {len(stack.spec.components)} component(s)"
    )


@cli.command()
def schema() -> None:
    """Print the stack file's JSON Schema (for editors: yaml-language-server)."""
    from leapfrog.spec import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@cli.command()
@file_option()
@click.option("-d", "--detach", is_flag=True, help="Run in the background; return once healthy.")
@click.option(
    "--timeout",
    type=DURATION,
    default=None,
    help="With -d: stop waiting after this long (e.g. 90s) and fail; the stack keeps running.",
)
@click.pass_context
def up(ctx: click.Context, stack_file: Path | None, detach: bool, timeout: float | None) -> None:
    """Start the stack: units in dependency order, independent ones in parallel.

    On a stack that is already up, applies the stack file instead: starts what is new,
    stops what is gone, and replaces changed instances one at a time per service.

    With -d, returns when every instance is healthy (exit 0) or one failed to come up
    (exit 1, with its last log lines); the platform keeps running either way.
    Without -d, runs in the foreground until Ctrl-C, which stops everything.
    """
    run_up(chosen_path(ctx, stack_file), detach, timeout)


@cli.command()
@file_option()
@click.pass_context
def down(ctx: click.Context, stack_file: Path | None) -> None:
    """Stop every instance gracefully (stop signal, then SIGKILL after its grace period)."""
    paths = state_paths(ctx, stack_file)
    seen: dict[str, str] = {}

    def on_snapshot(snapshot: dict[str, Any]) -> None:
        for item in snapshot.get("instances", []):
            if item["state"] == "stopped" and seen.get(item["name"]) != "stopped":
                console.print(f"stopped {item['name']}", style="dim")
            seen[item["name"]] = item["state"]

    if local.down(paths, on_snapshot, cleaned):
        console.print(f"[green]✓[/] the stack in {paths.root.parent} is down")
    else:
        console.print(f"the stack in {paths.root.parent} was not running")


@cli.command(name="status")
@file_option()
@click.option("--json", "as_json", is_flag=True, help="A JSON list of instances, for scripts.")
@click.pass_context
def status_cmd(ctx: click.Context, stack_file: Path | None, as_json: bool) -> None:
    """Every instance: state, address, version (of components), pid, restarts, and what
    its last health probe saw. Alias: ps."""
    paths = state_paths(ctx, stack_file)
    snapshot = local.status(paths)
    instances = (snapshot or {}).get("instances", [])
    if as_json:
        keys = (
            "name",
            "unit",
            "kind",
            "state",
            "address",
            "port",
            "version",
            "pid",
            "restarts",
            "exit_code",
            "detail",
            "last_check",
            "started_at",
        )
        click.echo(json.dumps([{k: i.get(k) for k in keys} for i in instances], indent=2))
        return
    if snapshot is None:
        console.print("the stack has never been started here ([dim]leapfrog up -d[/] starts it)")
        return
    if not snapshot.get("running"):
        console.print("[yellow]the supervisor is not running[/] (last known state below)")
    from leapfrog.cli import views

    console.print(views.status_table(snapshot))
    for line in views.replica_counts(snapshot) if snapshot.get("running") else ():
        console.print(f"[yellow]{line}[/] (current/desired)")
    for line in views.autoscale_lines(snapshot) if snapshot.get("running") else ():
        console.print(line, highlight=False)


cli.add_command(status_cmd, name="ps")


@cli.command()
@file_option()
@click.argument("name")
@click.pass_context
def restart(ctx: click.Context, stack_file: Path | None, name: str) -> None:
    """Restart a service (all its instances) or one instance (NAME-N)."""
    names = local.restart(state_paths(ctx, stack_file), name)
    console.print(f"restarted {', '.join(names)}")


@cli.command()
@file_option(short=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines as they come.")
@click.option(
    "-n",
    "--tail",
    "lines",
    default=100,
    show_default=True,
    help="Lines to show from the end of each log.",
)
@click.argument("names", nargs=-1)
@click.pass_context
def logs(
    ctx: click.Context, stack_file: Path | None, follow: bool, lines: int, names: tuple[str, ...]
) -> None:
    """Output of services or instances (all when no NAME is given; `supervisor` for its own)."""
    from leapfrog.cli.logs import follow_logs, show_logs

    paths = state_paths(ctx, stack_file)
    if follow:
        follow_logs(console, paths, names, lines)
    else:
        show_logs(console, paths, names, lines)
