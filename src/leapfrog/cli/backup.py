"""`leapfrog backup run|list|verify|restore|prune [STORE]`: the backup engine on a
local stack. STORE is a component's name in the stack file; without it, the only
component that has a backup driver. `list`, `run` and `restore` also act on a cluster's
backup operator (`--target kubernetes`): each target behind the contract of
`leapfrog.backup.target`, chosen once here (`_target_opts`)."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

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

from leapfrog.backup import Engine, Limits, RunRecord
from leapfrog.backup._stack import CHOICE_FLAGS, LocalStack, engine_for, policy_of
from leapfrog.backup.target import BackupTarget, Outcome, RunRequest
from leapfrog.backup.target import Table as Rows
from leapfrog.cli._backup_stack import local_stack
from leapfrog.cli.kube_options import local_or_cluster_options
from leapfrog.cli.options import DURATION, file_option, load_chosen
from leapfrog.cli.options import console as _out
from leapfrog.shared.errors import LeapfrogError

__all__ = ["backup"]

_err = Console(stderr=True)


F = TypeVar("F", bound=Callable[..., Any])


def _store_arg() -> Callable[[F], F]:
    return click.argument("store", required=False)


def _json_opt() -> Callable[[F], F]:
    return click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")


def _choice_opts() -> Callable[[F], F]:
    """--topic / --index / --database: what part of the store a run is about."""

    def add(f: F) -> F:
        for noun, flag in reversed(list(CHOICE_FLAGS.items())):
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


_REMOTE = "leapfrog.backup.remote"
"""Where `_remote_opts` leaves the RemoteTarget of a command (ctx.meta)."""


def _remote_opts() -> Callable[[F], F]:
    """--store-kind, --address, --storage ...: a store reached over the network, with no
    stack file (a backup Job on Kubernetes); secrets only from the environment."""

    def add(f: F) -> F:
        @functools.wraps(f)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            kind = kwargs.pop("store_kind")
            given = {key: kwargs.pop(key) for key in _REMOTE_KEYS}
            ctx = click.get_current_context()
            if kind is None:
                named = [f"--{key.replace('_', '-')}" for key, v in given.items() if v]
                named = [n for n in named if n != "--s3-region"]
                if named:
                    raise click.UsageError(f"{named[0]} goes with --store-kind")
            else:
                if given["address"] is None or given["storage"] is None:
                    raise click.UsageError("--store-kind needs --address and --storage")
                from leapfrog.backup.remote import RemoteTarget

                ctx.meta[_REMOTE] = RemoteTarget(
                    kind,
                    given["address"],
                    name=kwargs.get("store"),
                    storage=given["storage"],
                    s3_endpoint=given["s3_endpoint"],
                    s3_region=given["s3_region"],
                    encryption=given["encryption"],
                    history=given["history"],
                    data_dir=given["data_dir"],
                    server_data_dir=given["server_data_dir"],
                    ports=_named_ports(given["port"]),
                )
            return f(*args, **kwargs)

        options = [
            click.option(
                "--store-kind",
                metavar="KIND",
                help="Without a stack file: the store's component kind (postgres, kafka, ...), "
                "reached at --address; STORE is then its name in the storage (default: KIND). "
                "Secrets from the environment only: PGPASSWORD, AWS_ACCESS_KEY_ID, "
                "AWS_SECRET_ACCESS_KEY, LEAPFROG_BACKUP_KEY.",
            ),
            click.option("--address", metavar="HOST:PORT", help="With --store-kind: the store."),
            click.option(
                "--port",
                metavar="NAME=PORT",
                multiple=True,
                help="With --store-kind: another port of the store at --address's host "
                "(InfluxDB's rpc, ZooKeeper's admin); repeatable.",
            ),
            click.option(
                "--storage",
                metavar="DIR|s3://BUCKET/PREFIX",
                help="With --store-kind: where the backups are.",
            ),
            click.option("--s3-endpoint", metavar="URL", help="With --store-kind: the S3 API."),
            click.option(
                "--s3-region", default="us-east-1", show_default=True, help="The S3 region."
            ),
            click.option(
                "--encryption",
                metavar="NAME",
                help="With --store-kind: encrypt with the secret NAME, its text in "
                "$LEAPFROG_BACKUP_KEY.",
            ),
            click.option(
                "--history",
                type=click.Path(file_okay=False, path_type=Path),
                help="With --store-kind: the lock and run history "
                "[default: .history/ in a directory storage, else a temporary folder].",
            ),
            click.option(
                "--data-dir",
                type=click.Path(file_okay=False, path_type=Path),
                help="With --store-kind: the store's own data directory, mounted here "
                "(a ZooKeeper restore replaces its files; OpenSearch's snapshot repository "
                "is under it) [default: a work folder].",
            ),
            click.option(
                "--server-data-dir",
                type=click.Path(file_okay=False, path_type=Path),
                help="With --data-dir: where the store's server has that directory, its "
                "own mount of the same volume [default: the same path].",
            ),
        ]
        for option in reversed(options):
            wrapped = option(wrapped)
        return wrapped  # type: ignore[return-value]

    return add


_REMOTE_KEYS = (
    "address",
    "port",
    "storage",
    "s3_endpoint",
    "s3_region",
    "encryption",
    "history",
    "data_dir",
    "server_data_dir",
)


def _named_ports(given: tuple[str, ...]) -> dict[str, int]:
    """`--port NAME=PORT` options as a mapping; a malformed one is a usage error."""
    found: dict[str, int] = {}
    for text in given:
        name, _, number = text.partition("=")
        if not name or not number.isdigit() or not 0 < int(number) < 65536:
            raise click.UsageError(f"--port {text}: give NAME=PORT, e.g. --port rpc=8088")
        found[name] = int(number)
    return found


def _choice(
    topics: tuple[str, ...], indices: tuple[str, ...], databases: tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    given = {"topic": topics, "index": indices, "database": databases}
    return {noun: names for noun, names in given.items() if names}


def _target_opts() -> Callable[[F], F]:
    """--target, --kubeconfig, --context, -n: the stack's stores on this machine (the
    engine), or the backup operator's objects on a cluster; turned into the command's
    `target` (leapfrog.backup.target), chosen here once."""

    def add(f: F) -> F:
        @functools.wraps(f)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            stack_file = kwargs.pop("stack_file")
            given = {key: kwargs.pop(key) for key in ("target", "kubeconfig", "context")}
            namespace = kwargs.pop("namespace")
            cluster = any(given[k] for k in ("kubeconfig", "context")) or namespace is not None
            if given["target"] == "kubernetes" or (given["target"] is None and cluster):
                if ctx.meta.get(_REMOTE) is not None:
                    raise click.UsageError("--store-kind is for a store reached from here")
                kwargs["target"] = _kube_target(
                    ctx, stack_file, given["kubeconfig"], given["context"], namespace
                )
            else:
                from leapfrog.backup.local_target import LocalBackups

                kwargs["target"] = LocalBackups(functools.partial(_engine, ctx, stack_file))
            return f(*args, **kwargs)

        command: Any = local_or_cluster_options(
            "The stack's stores on this machine", "the backup operator's Backup objects"
        )(wrapped)
        return cast("F", command)

    return add


def _kube_target(
    ctx: click.Context,
    stack_file: Path | None,
    kubeconfig: Path | None,
    context: str | None,
    namespace: str | None,
) -> BackupTarget:
    from leapfrog.backup.kube_target import KubeBackups
    from leapfrog.runtime import kubernetes
    from leapfrog.spec import SpecError

    if namespace is None:
        try:
            stack = load_chosen(ctx, stack_file)
        except (LeapfrogError, SpecError) as exc:
            raise LeapfrogError(
                f"which namespace? {exc}", hint="name it: -n NAMESPACE, or -f STACK_FILE"
            ) from None
        namespace = kubernetes.kube_context(stack).namespace
    return KubeBackups(kubernetes.connect(kubeconfig, context), namespace)


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
    backup run) what the store's `backups:` block chooses. With --store-kind, the
    remote store those options describe, and no stack file."""
    target = ctx.meta.get(_REMOTE)
    if target is not None:
        from leapfrog.backup.remote import remote_engine

        only = tuple(name for names in (choice or {}).values() for name in names)
        return remote_engine(target, limits, progress, only)
    stack = local_stack(load_chosen(ctx, stack_file))
    return engine_for(stack, store, limits, progress, choice=choice, stack_choice=stack_choice)


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

        def report(what: str, done: int | None) -> None:
            if done is None:
                bar.update(task, description=what)
            else:
                bar.update(task, description=what, completed=done)

        yield report


def _show(record: RunRecord | Outcome, as_json: bool) -> None:
    if isinstance(record, RunRecord):  # verify and prune: the engine's record itself
        from leapfrog.backup.local_target import outcome_of

        record = outcome_of(record)
    if as_json:
        click.echo(json.dumps(record.body, indent=2, ensure_ascii=False))
    else:
        color = "red" if record.failed else "green"
        what = f" {record.backup}" if record.backup else ""
        _out.print(
            f"{record.action}{what} of {record.store}: [{color}]{record.state}[/]"
            + (f": {record.reason}" if record.reason else "")
        )
    if record.failed:
        sys.exit(1)


def _table(rows: Rows) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold", title=rows.title)
    for n, column in enumerate(rows.columns):
        last = n == len(rows.columns) - 1
        table.add_column(column, no_wrap=not (last and rows.wrap_last))
    for row in rows.rows:
        table.add_row(*row)
    return table


@click.group()
def backup() -> None:
    """Back up, verify, restore and prune a store of the stack.

    Stores: PostgreSQL, ZooKeeper, Kafka, OpenSearch and InfluxDB.

    Backups go to `backups/` in the stack's state directory unless the component's
    `backups: storage:` names another directory or an `s3://BUCKET/PREFIX`;
    `backups: encryption:` encrypts them with a key from `leapfrog secrets`. A store's
    `backups: schedule:` (cron) is run by the stack's `backups` component: backup,
    verify, prune.

    On Kubernetes (`--target kubernetes`, or --kubeconfig, --context, -n) `list`, `run`
    and `restore` act on the backup operator's Backup and Restore objects instead. See
    docs/backup.md."""


@backup.command()
@file_option()
@_store_arg()
@_remote_opts()
@_target_opts()
@click.option("--mode", help="physical (default: base backup + WAL) or logical (pg_dump).")
@click.option("--no-compress", is_flag=True, help="Store objects as they are (default: zstd).")
@click.option(
    "--id",
    "backup_id",
    metavar="ID",
    help="The new backup's id (20261205T231500Z-3fa2; default: from the time). When a "
    "backup of that id exists already, nothing is taken again.",
)
@click.option(
    "--deadline",
    type=float,
    default=None,
    help="Seconds [default: 6 h; on Kubernetes the schedule's deadlineSeconds].",
)
@click.option(
    "--stall-after",
    type=float,
    default=None,
    help="Fail after this many seconds without progress [default: 300].",
)
@click.option(
    "--summary-to",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also write the new backup's size, object count and position here, as one JSON "
    "object (the operator's Jobs: /dev/termination-log, read into the Backup's status).",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="Kubernetes: create the Backup and return (default: follow it to its end).",
)
@click.option(
    "--timeout",
    type=DURATION,
    default=None,
    help="Kubernetes: stop following after this long (the run goes on) [default: until it ends].",
)
@_choice_opts()
@_json_opt()
def run(  # noqa: PLR0917
    target: BackupTarget,
    store: str | None,
    mode: str | None,
    no_compress: bool,
    backup_id: str | None,
    deadline: float | None,
    stall_after: float | None,
    summary_to: Path | None,
    no_wait: bool,
    timeout: float | None,
    as_json: bool,
    topic_choice: tuple[str, ...],
    index_choice: tuple[str, ...],
    database_choice: tuple[str, ...],
) -> None:
    """Take a backup now; it counts only once every object was read back and matched.

    By default the whole store, or what its `backups:` block chooses (`topics`,
    `indices`, `databases`); `--topic`, `--index` or `--database` (repeated, names or
    shell patterns) limit it, and the manifest records what was chosen.

    With --target kubernetes (or --kubeconfig, --context, -n) it creates a Backup
    object of STORE's BackupSchedule (named `<schedule>-<YYYYMMDDHHMMSS>`) and follows
    it as the backup operator runs its Job, until it Succeeded or Failed (exit 1);
    --no-wait returns once it is created."""
    request = RunRequest(
        mode=mode,
        compress=not no_compress,
        backup_id=backup_id,
        deadline=deadline,
        stall_after=stall_after,
        choice=_choice(topic_choice, index_choice, database_choice),
        wait=not no_wait,
        timeout=timeout,
        summary_to=summary_to,
    )
    with _progress(not as_json) as report:
        outcome = target.run(store, request, report)
    _show(outcome, as_json)


@backup.command(name="list")
@file_option()
@_store_arg()
@_remote_opts()
@_target_opts()
@_json_opt()
def list_cmd(target: BackupTarget, store: str | None, as_json: bool) -> None:
    """Backups with their verification, notes (WAL archive, gaps), and the run history.

    With --target kubernetes (or --kubeconfig, --context, -n): the namespace's Backup
    objects (of STORE, or all), each with its phase, verification, start, end, size,
    store and schedule, and each schedule's recoverability window."""
    listing = target.listing(store)
    if as_json:
        click.echo(json.dumps(listing.body, indent=2))
        return
    console = _out  # 160 columns when not a terminal: ids and states are never cut
    first, *others = listing.tables
    console.print(_table(first) if first.rows else listing.empty)
    for note in listing.notes:
        console.print(f"note: {note}")
    for more in others:
        if more.rows:
            console.print(_table(more))


@backup.command()
@file_option()
@_store_arg()
@_remote_opts()
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
@_remote_opts()
@_target_opts()
@click.option(
    "--backup",
    "backup_id",
    help="Backup id (default: chosen from --to). On Kubernetes: a Backup's name or id "
    "(default: STORE's newest Succeeded one).",
)
@click.option(
    "--to",
    "to",
    metavar="TIMESTAMP|latest",
    help="Point in time (ISO 8601, UTC unless it says otherwise); default latest.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--no-wait",
    is_flag=True,
    help="Kubernetes: create the Restore and return (default: follow it to its end).",
)
@click.option(
    "--timeout",
    type=DURATION,
    default=None,
    help="Kubernetes: stop following after this long [default: until it ends].",
)
@_choice_opts()
@_json_opt()
def restore(  # noqa: PLR0917
    target: BackupTarget,
    store: str | None,
    backup_id: str | None,
    to: str | None,
    yes: bool,
    no_wait: bool,
    timeout: float | None,
    as_json: bool,
    topic_choice: tuple[str, ...],
    index_choice: tuple[str, ...],
    database_choice: tuple[str, ...],
) -> None:
    """Put a backup back, saying first exactly what it replaces.

    By default everything the backup holds; `--topic`, `--index` or `--database`
    (repeated, names or shell patterns) restore only those, leaving the rest alone.

    With --target kubernetes (or --kubeconfig, --context, -n) it creates a Restore
    object of a Succeeded Backup (`--backup NAME`, or `restore BACKUP`: STORE may be a
    Backup's name; else STORE's newest) and follows its Job to its end."""
    request = RunRequest(
        choice=_choice(topic_choice, index_choice, database_choice),
        to=_timestamp(to),
        wait=not no_wait,
        timeout=timeout,
    )
    plan = target.plan_restore(store, backup_id, request)
    lines = plan.lines
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
        outcome = target.restore(plan, request, report)
    _show(outcome, as_json)


@backup.command()
@file_option()
@_store_arg()
@_remote_opts()
@click.option("--keep-last", type=click.IntRange(min=1), help="Default: the store's `keep_last`.")
@click.option(
    "--keep-daily",
    type=click.IntRange(min=0),
    help="Also the newest of each of the last N days (default: the store's `keep_daily`).",
)
@click.option(
    "--keep-weekly",
    type=click.IntRange(min=0),
    help="Also the newest of each of the last N ISO weeks (default: `keep_weekly`).",
)
@click.option(
    "--keep-monthly",
    type=click.IntRange(min=0),
    help="Also the newest of each of the last N months (default: `keep_monthly`).",
)
@_json_opt()
@click.pass_context
def prune(  # noqa: PLR0917
    ctx: click.Context,
    stack_file: Path | None,
    store: str | None,
    keep_last: int | None,
    keep_daily: int | None,
    keep_weekly: int | None,
    keep_monthly: int | None,
    as_json: bool,
) -> None:
    """Delete old backups (and WAL no kept backup needs); never the newest good one.

    Keeps the newest `--keep-last` backups and the newest of each of the last N days,
    ISO weeks and months (UTC) that have a good one; each defaults to the stack file's
    `backups:` value."""
    engine = _engine(ctx, stack_file, store)
    given = {
        "keep_last": keep_last,
        "keep_daily": keep_daily,
        "keep_weekly": keep_weekly,
        "keep_monthly": keep_monthly,
    }
    if engine.store.remote:
        from leapfrog.backup.remote import remote_policy

        policy = remote_policy(**given)
    else:
        policy = policy_of(engine.store.options, **given)
    _show(engine.prune(policy), as_json)


@backup.command(name="scheduler")
@file_option()
@click.option(
    "--listen",
    default="127.0.0.1:9612",
    show_default=True,
    help="Address of its /health and /metrics.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where it remembers when each schedule was first seen "
    "[default: backups/ in the stack's state directory].",
)
@click.option("--deadline", type=float, default=6 * 3600, show_default=True, help="Seconds.")
@click.option(
    "--stall-after",
    type=float,
    default=300,
    show_default=True,
    help="A run fails after this many seconds without progress.",
)
@click.option(
    "--catch-up-delay",
    type=float,
    default=60,
    show_default=True,
    help="Seconds after start before running a backup missed while it was down.",
)
@click.pass_context
def scheduler(  # noqa: PLR0917
    ctx: click.Context,
    stack_file: Path | None,
    listen: str,
    data_dir: Path | None,
    deadline: float,
    stall_after: float,
    catch_up_delay: float,
) -> None:
    """Run each store's `backups.schedule`: backup, verify, prune, until stopped.

    The `backups` component runs it (the stack file comes as $LEAPFROG_STACK_FILE);
    each result is a JSON line on stdout. See docs/backup.md."""
    import signal
    import threading

    from leapfrog.backup.scheduler import (
        Scheduler,
        json_line_emitter,
        lower_priority,
        serve_scheduler,
    )

    given = os.environ.get("LEAPFROG_STACK_FILE")
    chosen = stack_file or (Path(given) if given else None)
    first = load_chosen(ctx, chosen)
    path = first.path

    def resolve() -> LocalStack:
        return local_stack(load_chosen(ctx, path))

    def changed() -> object:
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return None

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(f"{listen!r} is not HOST:PORT", param_hint="--listen")
    lower_priority()
    sched = Scheduler(
        resolve,
        json_line_emitter(),
        data_dir or first.state_dir / "backups",
        limits=Limits(deadline, stall_after),
        catch_up_delay=catch_up_delay,
        changed=changed,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = serve_scheduler(sched, host, int(port))
    try:
        sched.serve(stop)
    finally:
        server.shutdown()


@backup.command(name="operator")
@click.option("--namespace", required=True, help="The namespace whose backups it runs.")
@click.option(
    "--interval",
    type=click.FloatRange(min=1),
    default=30,
    show_default=True,
    help="Seconds between looks at each BackupSchedule.",
)
@click.option(
    "--image", required=True, help="The leapfrog image the backup Jobs run (the operator's own)."
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="Serve /metrics (Prometheus) and /health here [default: not served].",
)
def operator(namespace: str, interval: float, image: str, listen: str | None) -> None:
    """Run the Kubernetes backup operator (kopf) in NAMESPACE until stopped.

    The `backups` component's Deployment runs it on Kubernetes: BackupSchedules make
    Backups on their cron times, each Backup runs a Job, the Job's outcome becomes the
    Backup's status; its metrics (last success per store, failures, runs by phase, the
    recoverability window) are recomputed from the Backup objects. Not for running by
    hand. See docs/backup.md."""
    from leapfrog.backup.kube_operator import run as run_operator

    address = None
    if listen is not None:
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise click.BadParameter(f"{listen!r} is not HOST:PORT", param_hint="--listen")
        address = (host.strip("[]"), int(port))
    run_operator(namespace, interval, image, address)
