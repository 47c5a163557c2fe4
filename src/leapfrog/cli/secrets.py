"""`leapfrog secrets`: the one command that prints generated passwords and tokens."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from leapfrog.cli.options import file_option, load_chosen
from leapfrog.runtime import local

__all__ = ["secrets"]


@click.command()
@file_option()
@click.argument("names", nargs=-1, metavar="[UNIT...]")
@click.option("--json", "as_json", is_flag=True, help="A JSON object by unit, for scripts.")
@click.pass_context
def secrets(
    ctx: click.Context, stack_file: Path | None, names: tuple[str, ...], as_json: bool
) -> None:
    """Print the secrets leapfrog generated for this stack: the catalog's tokens
    (management, the services', the read-only one, DNS's) and each component's
    passwords (kept mode 0600 in the state directory).

    Nothing else prints them: not `status`, not the logs.
    """
    stack = load_chosen(ctx, stack_file)
    found = local.secrets(stack)
    if names:
        unknown = [n for n in names if n not in found and f"{n}-1" not in found]
        if unknown:
            raise click.UsageError(
                f"no secrets for {', '.join(unknown)}; units with secrets: "
                + (", ".join(sorted(found)) or "none")
            )
        found = {k: v for k, v in found.items() if k in names or k.rsplit("-", 1)[0] in names}
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("UNIT", "WHAT", "SECRET"):
        table.add_column(column)
    for unit, items in sorted(found.items()):
        for label, value in items.items():
            table.add_row(unit, label, value)
    Console().print(table)
