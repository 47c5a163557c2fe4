"""`leapfrog backup run|list|verify|restore|prune [STORE]`: the backup engine on a
local stack. STORE is a component's name in the stack file; without it, the only
component that has a backup driver."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from leapfrog.backup import DirectoryStorage, Engine, Limits, RunRecord, Store, driver_for
from leapfrog.backup.drivers import known_drivers
from leapfrog.cli.options import file_option, load_chosen
from leapfrog.plan import build_plan
from leapfrog.runtime.local import StatePaths
from leapfrog.runtime.local.launch import build_launches
from leapfrog.shared.cache import cache_dir
from leapfrog.shared.errors import LeapfrogError

__all__ = ["backup"]

_err = Console(stderr=True)


F = TypeVar("F", bound=Callable[..., Any])


def _store_arg() -> Callable[[F], F]:
    return click.argument("store", required=False)


def _json_opt() -> Callable[[F], F]:
    return click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")


_NOUNS = {"topic": "--topic", "index": "--index", "database": "--database"}


def _choice_opts() -> Callable[[F], F]:
    """--topic / --index / --database: what part of the store a run is about."""

    def add(f: F) -> F:
        for noun, flag in reversed(list(_NOUNS.items())):
            f = click.option(
                flag,
                f"{noun}_choice",
                multiple=True,
                metavar="NAME",
                help=f"Only this {noun} (repeat it; a shell pattern like `logs-*` works). "
                + {
                    "topic": "Kafka.",
                    "index": "OpenSearch.",
                    "database": "InfluxDB, PostgreSQL --mode logical.",
                }[noun],
            )(f)
        return f

    return add


def _choice(
    topics: tuple[str, ...], indices: tuple[str, ...], databases: tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    given = {"topic": topics, "index": indices, "database": databases}
    return {noun: names for noun, names in given.items() if names}


_PLURALS = {"topic": "topics", "index": "indices", "database": "databases"}
"""The field of a store's `backups:` naming what a backup run holds by default."""


def _engine(  # noqa: PLR0917
    ctx: click.Context,
    stack_file: Path | None,
    store: str | None,
    limits: Limits | None = None,
    progress: Any = None,
    choice: dict[str, tuple[str, ...]] | None = None,
    stack_choice: bool = False,
) -> Engine:
    """The engine of STORE; `choice` from the flags, else (with `stack_choice`, for a
    backup run) what the store's `backups:` block chooses."""
    stack = load_chosen(ctx, stack_file)
    paths = StatePaths(stack.state_dir)
    paths.create()
    launches = build_launches(stack, build_plan(stack), paths)
    runs = {
        name: group[0].component
        for name, group in launches.items()
        if group and group[0].component is not None
    }
    backed = [n for n, r in runs.items() if r is not None and r.component.kind in known_drivers()]
    if store is None:
        if len(backed) != 1:
            raise LeapfrogError(
                "name the store to back up" if backed else "this stack has no store to back up",
                hint=f"stores with a backup driver here: {', '.join(sorted(backed)) or 'none'}",
            )
        store = backed[0]
    run = runs.get(store)
    if run is None:
        raise LeapfrogError(
            f"{store} is not a component of this stack",
            hint=f"stores with a backup driver here: {', '.join(sorted(backed)) or 'none'}",
        )
    kind = run.component.kind
    chooses = driver_for(kind).chooses
    for noun in choice or {}:
        if noun != chooses:
            raise LeapfrogError(
                f"{store} ({kind}) has no {noun} to choose",
                hint=f"choose with {_NOUNS[chooses]}"
                if chooses
                else f"a {kind} backup is always of the whole store",
            )
    declared = getattr(run.options, "backups", None)
    only = (choice or {}).get(chooses, ())
    if not choice and stack_choice and chooses:
        only = tuple(getattr(declared, _PLURALS[chooses], None) or ())
    driver = driver_for(kind, only)
    installation = run.component.install(run.options, cache_dir(), lambda _line: None)
    root = Path(declared.storage) if declared is not None and declared.storage else None
    storage = DirectoryStorage(root or paths.root / "backups")
    handle = Store(store, run.component, run.options, run.where, installation)
    return Engine(handle, driver, storage, paths.root / "backups", limits or Limits(), progress)


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
    )
    with bar:
        task = bar.add_task("starting", total=None)

        def report(what: str, done: int) -> None:
            bar.update(task, description=what, completed=done)

        yield report


def _show(record: RunRecord, as_json: bool) -> None:
    if as_json:
        click.echo(record.model_dump_json(indent=2))
    else:
        color = "green" if record.state == "succeeded" else "red"
        what = f" {record.backup}" if record.backup else ""
        Console().print(
            f"{record.action}{what} of {record.store}: [{color}]{record.state}[/]"
            + (f": {record.reason}" if record.reason else "")
        )
    if record.state != "succeeded":
        sys.exit(1)


@click.group()
def backup() -> None:
    """Back up, verify, restore and prune a store of the stack.

    Stores: PostgreSQL, ZooKeeper, Kafka, OpenSearch and InfluxDB.

    Backups go to `backups/` in the stack's state directory unless the component's
    `backups: storage:` says otherwise; see docs/backup.md."""


@backup.command()
@file_option()
@_store_arg()
@click.option("--mode", help="physical (default: base backup + WAL) or logical (pg_dump).")
@click.option("--no-compress", is_flag=True, help="Store objects as they are (default: zstd).")
@click.option("--deadline", type=float, default=6 * 3600, show_default=True, help="Seconds.")
@click.option(
    "--stall-after",
    type=float,
    default=300,
    show_default=True,
    help="Fail after this many seconds without progress.",
)
@_choice_opts()
@_json_opt()
@click.pass_context
def run(  # noqa: PLR0917
    ctx: click.Context,
    stack_file: Path | None,
    store: str | None,
    mode: str | None,
    no_compress: bool,
    deadline: float,
    stall_after: float,
    as_json: bool,
    topic_choice: tuple[str, ...],
    index_choice: tuple[str, ...],
    database_choice: tuple[str, ...],
) -> None:
    """Take a backup now; it counts only once every object was read back and matched.

    By default the whole store, or what its `backups:` block chooses (`topics`,
    `indices`, `databases`); `--topic`, `--index` or `--database` (repeated, names or
    shell patterns) limit it, and the manifest records what was chosen."""
    with _progress(not as_json) as report:
        limits = Limits(deadline, stall_after)
        chosen = _choice(topic_choice, index_choice, database_choice)
        engine = _engine(ctx, stack_file, store, limits, report, chosen, stack_choice=True)
        record = engine.run_backup(mode, compress=not no_compress)
    _show(record, as_json)


@backup.command(name="list")
@file_option()
@_store_arg()
@_json_opt()
@click.pass_context
def list_cmd(ctx: click.Context, stack_file: Path | None, store: str | None, as_json: bool) -> None:
    """Backups with their verification, notes (WAL archive, gaps), and the run history."""
    engine = _engine(ctx, stack_file, store)
    backups = engine.backups()
    runs = engine.history.records()
    verified = {m.id: engine.history.verification(m.id) for m in backups}
    notes = engine.driver.describe(engine.store, engine.storage, backups)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "store": engine.store.name,
                    "storage": engine.storage.description,
                    "backups": [
                        {
                            **m.model_dump(mode="json", exclude={"facts"}),
                            "verified": _state(verified[m.id]),
                        }
                        for m in backups
                    ],
                    "notes": notes,
                    "runs": [r.model_dump(mode="json", exclude={"details"}) for r in runs],
                },
                indent=2,
            )
        )
        return
    console = Console()
    table = Table(
        box=None, pad_edge=False, header_style="bold", title=f"backups of {engine.store.name}"
    )
    for column in ("ID", "MODE", "CHOSEN", "ENDED (UTC)", "SIZE", "POSITION", "VERIFIED"):
        table.add_column(column, no_wrap=True)
    for m in backups:
        check = verified[m.id]
        table.add_row(
            m.id,
            m.mode,
            ", ".join(m.chosen) or "all",
            f"{m.ended:%Y-%m-%d %H:%M:%S}",
            _size(m.size),
            m.position.get("end_lsn", ""),
            "never" if check is None else check.state,
        )
    console.print(table if backups else f"{engine.store.name} has no backup yet")
    for note in notes:
        console.print(f"note: {note}")
    history = Table(box=None, pad_edge=False, header_style="bold", title="runs (newest last)")
    for column in ("STARTED (UTC)", "ACTION", "STATE", "BACKUP"):
        history.add_column(column, no_wrap=True)
    history.add_column("REASON")
    for r in runs[-15:]:
        history.add_row(f"{r.started:%Y-%m-%d %H:%M:%S}", r.action, r.state, r.backup, r.reason)
    if runs:
        console.print(history)


@backup.command()
@file_option()
@_store_arg()
@click.option("--backup", "backup_id", help="Backup id (default: the newest).")
@_json_opt()
@click.pass_context
def verify(
    ctx: click.Context,
    stack_file: Path | None,
    store: str | None,
    backup_id: str | None,
    as_json: bool,
) -> None:
    """Check every object's sha256, restore into a scratch instance, compare its tables
    (row counts and checksums) with the manifest, remove the scratch instance."""
    with _progress(not as_json) as report:
        record = _engine(ctx, stack_file, store, progress=report).verify(backup_id)
    _show(record, as_json)


def _timestamp(value: str | None) -> datetime | None:
    if value is None or value == "latest":
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a timestamp; use e.g. 2026-12-05T23:15:00Z or `latest`",
            param_hint="--to",
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@backup.command()
@file_option()
@_store_arg()
@click.option("--backup", "backup_id", help="Backup id (default: chosen from --to).")
@click.option(
    "--to",
    "to",
    metavar="TIMESTAMP|latest",
    help="Point in time (ISO 8601, UTC unless it says otherwise); default latest.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_choice_opts()
@_json_opt()
@click.pass_context
def restore(  # noqa: PLR0917
    ctx: click.Context,
    stack_file: Path | None,
    store: str | None,
    backup_id: str | None,
    to: str | None,
    yes: bool,
    as_json: bool,
    topic_choice: tuple[str, ...],
    index_choice: tuple[str, ...],
    database_choice: tuple[str, ...],
) -> None:
    """Put a backup back, saying first exactly what it replaces.

    By default everything the backup holds; `--topic`, `--index` or `--database`
    (repeated, names or shell patterns) restore only those, leaving the rest alone."""
    target = _timestamp(to)
    chosen = _choice(topic_choice, index_choice, database_choice)
    with _progress(not as_json) as report:
        engine = _engine(ctx, stack_file, store, progress=report, choice=chosen)
        manifest, lines = engine.plan_restore(backup_id, target)
    if not as_json:
        for line in lines:
            _err.print(f"restore {line}")
    if not yes:
        if as_json or not sys.stdin.isatty():
            raise LeapfrogError(
                "restore " + "; ".join(lines[:1]) + " and needs a confirmation",
                hint="add --yes to confirm",
            )
        click.confirm("go ahead?", abort=True, err=True)
    with _progress(not as_json) as report:
        engine = _engine(ctx, stack_file, store, progress=report, choice=chosen)
        record = engine.restore(manifest, target)
    _show(record, as_json)


@backup.command()
@file_option()
@_store_arg()
@click.option("--keep-last", type=click.IntRange(min=1), help="Default: the store's `keep_last`.")
@_json_opt()
@click.pass_context
def prune(
    ctx: click.Context,
    stack_file: Path | None,
    store: str | None,
    keep_last: int | None,
    as_json: bool,
) -> None:
    """Delete old backups (and WAL no kept backup needs); never the newest good one."""
    engine = _engine(ctx, stack_file, store)
    declared = getattr(engine.store.options, "backups", None)
    keep = keep_last or (declared.keep_last if declared is not None else 7)
    _show(engine.prune(keep), as_json)


def _state(record: RunRecord | None) -> str | None:
    return None if record is None else record.state


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"
