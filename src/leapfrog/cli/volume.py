"""`leapfrog volume ls|rm`: the stack's named volumes, and deleting one with its data."""

from __future__ import annotations

import json
from pathlib import Path

import click

from leapfrog.cli.options import console, file_option, state_paths
from leapfrog.runtime import local

__all__ = ["volume"]


def _running(paths: local.StatePaths) -> list[str]:
    snapshot = local.status(paths)
    if not snapshot or not snapshot.get("running"):
        return []
    return [i["name"] for i in snapshot.get("instances", []) if i.get("state") != "stopped"]


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= factor:
            return f"{value / factor:.1f}".removesuffix(".0") + unit
    return f"{value}B"


@click.group()
def volume() -> None:
    """The stack's named volumes (`volumes:` in the stack file): list them, delete one.

    A volume is kept across restarts, `down`/`up` and rolling replacement, and after the
    stack file stops naming it, until `leapfrog volume rm` deletes it.
    """


@volume.command(name="ls")
@file_option()
@click.option("--json", "as_json", is_flag=True, help="A JSON list of volumes, for scripts.")
@click.pass_context
def ls(ctx: click.Context, stack_file: Path | None, as_json: bool) -> None:
    """Every volume: scope, services, size limit (and whether it is enforced), directories
    with the bytes each holds, and the running instances that use it."""
    from leapfrog.runtime.local.volumes import list_volumes

    paths = state_paths(ctx, stack_file)
    found = list_volumes(paths, _running(paths))
    if as_json:
        click.echo(json.dumps([v.as_dict() for v in found], indent=2))
        return
    if not found:
        console.print("no volumes here (declare them under `volumes:` in the stack file)")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("NAME", "SCOPE", "SERVICES", "SIZE", "USED", "DIRECTORIES", "IN USE BY"):
        table.add_column(column)
    notes = []
    for item in found:
        size = _size(item.size)
        if item.size is not None and not item.enforced:
            size += " (not enforced)"
            notes.append(f"{item.name}: the size limit is not enforced: {item.not_enforced}")
        services = ", ".join(item.services) or "-"
        if not item.declared:
            services += " (no longer in the stack file)"
        dirs = ", ".join(d + (" (mounted)" if d in item.mounted else "") for d in item.directories)
        table.add_row(
            item.name,
            item.scope,
            services,
            size,
            _size(sum(item.directories.values())),
            dirs or "(none yet)",
            ", ".join(item.in_use_by) or "-",
        )
    console.print(table)
    for note in notes:
        console.print(f"[yellow]note:[/] {note}")


@volume.command(name="rm")
@file_option()
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@click.pass_context
def rm(ctx: click.Context, stack_file: Path | None, names: tuple[str, ...]) -> None:
    """Delete volumes with all their data (every instance's directory, the size-limited
    file systems). Refused while a running instance uses one of them: `leapfrog down`
    first, or remove the volume from the services that use it and `leapfrog up`."""
    from leapfrog.runtime.local.volumes import remove_volumes

    paths = state_paths(ctx, stack_file)
    for name in remove_volumes(paths, list(dict.fromkeys(names)), _running(paths)):
        console.print(f"[green]✓[/] removed volume {name} and its data")
