"""`leapfrog secrets`: the one command that prints generated passwords and tokens, and
sets the named secrets a stack file refers to (S3 credentials, backup keys)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from leapfrog.catalog import accessor_of
from leapfrog.cli.options import file_option, load_chosen
from leapfrog.runtime import local
from leapfrog.shared.named_secrets import named_secrets

__all__ = ["secrets"]


@click.command()
@file_option()
@click.argument("names", nargs=-1, metavar="[UNIT...]")
@click.option("--json", "as_json", is_flag=True, help="A JSON object by unit, for scripts.")
@click.option(
    "--show-secrets",
    is_flag=True,
    help="Print the values; without it every value is <hidden> and the catalog's tokens "
    "are named by their AccessorID only, as Consul lists them.",
)
@click.option(
    "--set",
    "set_name",
    metavar="NAME",
    help="Set the named secret NAME (what `backups: s3:` and `encryption:` refer to) to "
    "the value read from standard input (asked for, hidden, on a terminal).",
)
@click.pass_context
def secrets(
    ctx: click.Context,
    *,
    stack_file: Path | None,
    names: tuple[str, ...],
    as_json: bool,
    show_secrets: bool,
    set_name: str | None,
) -> None:
    """List the secrets leapfrog generated for this stack: the catalog's tokens
    (management, the read-only one, DNS's, and each service instance's own, under the
    instance), each component's passwords, and the named secrets (under `named`); all
    kept mode 0600 in the state directory. Catalog tokens are shown with their
    AccessorID; values only with --show-secrets.

    Nothing else prints them: not `status`, not the logs.
    """
    stack = load_chosen(ctx, stack_file)
    named = named_secrets(stack.state_dir)
    if set_name is not None:
        if sys.stdin.isatty():
            value = click.prompt(f"value of {set_name}", hide_input=True)
        else:
            value = sys.stdin.read()
        if not value.strip():
            raise click.UsageError(f"no value for {set_name}: give it on standard input")
        named.set(set_name, value)
        click.echo(f"secret {set_name} set", err=True)
        return
    found = local.secrets(stack)
    values = {name: named.get(name) or "" for name in named.names()}
    if values:
        found["named"] = values
    if names:
        unknown = [n for n in names if n not in found and f"{n}-1" not in found]
        if unknown:
            raise click.UsageError(
                f"no secrets for {', '.join(unknown)}; units with secrets: "
                + (", ".join(sorted(found)) or "none")
            )
        found = {k: v for k, v in found.items() if k in names or k.rsplit("-", 1)[0] in names}
    tokens = [
        {"Unit": unit, "What": label, "AccessorID": accessor_of(value)}
        for unit, items in sorted(found.items())
        for label, value in items.items()
        if _is_catalog_token(unit, label)
    ]
    shown = {
        unit: {label: value if show_secrets else HIDDEN for label, value in items.items()}
        for unit, items in found.items()
    }
    if as_json:
        click.echo(json.dumps(shown | ({"tokens": tokens} if tokens else {}), indent=2))
        return
    accessors = {(t["Unit"], t["What"]): t["AccessorID"] for t in tokens}
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("UNIT", "WHAT", "ACCESSOR", "SECRET"):
        table.add_column(column)
    for unit, items in sorted(shown.items()):
        for label, value in items.items():
            table.add_row(unit, label, accessors.get((unit, label), ""), value)
    Console().print(table)
    if not show_secrets and shown:
        click.echo("values hidden: --show-secrets prints them", err=True)


HIDDEN = "<hidden>"


def _is_catalog_token(unit: str, label: str) -> bool:
    return (unit == "catalog" and label.endswith(" token")) or label == "catalog token"
