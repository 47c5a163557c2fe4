"""`leapfrog rollout status|history|undo|pause|resume NAME`: a service's rollouts on the
stack that is up (the local supervisor), and `status` of a rollout on Kubernetes."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import click
from rich.live import Live
from rich.table import Table
from rich.text import Text

from leapfrog.cli.kube_options import cluster_options
from leapfrog.cli.options import (
    DURATION,
    console,
    file_option,
    load_chosen,
    running_state_paths,
    state_paths,
)
from leapfrog.shared.errors import LeapfrogError

__all__ = ["rollout"]

_FAILED = ("failed", "reverted")


@click.group()
def rollout() -> None:
    """A service's rollouts: each change `leapfrog up` applies is a revision, rolled out
    an instance at a time with no request lost, reverted automatically when its new
    instances do not pass (kubectl rollout's commands, on the stack that is up).
    `status` also follows a rollout on Kubernetes (with --kubeconfig, --context or
    --namespace, or when the stack is not up here)."""


def _local(ctx: click.Context, stack_file: Path | None) -> Any:
    """The state dir of the stack when it is up on this machine, else None."""
    from leapfrog.runtime import local

    try:
        paths = running_state_paths(ctx, stack_file)
    except LeapfrogError:
        return None
    return paths if local.running(paths) is not None else None


def _need_local(ctx: click.Context, stack_file: Path | None) -> Any:
    paths = _local(ctx, stack_file)
    if paths is None:
        raise LeapfrogError(
            "the stack is not up on this machine",
            hint="`leapfrog up -d` starts it; on Kubernetes use kubectl rollout "
            "history|undo|pause|resume on the Deployment",
        )
    return paths


@rollout.command()
@file_option()
@cluster_options
@click.option(
    "-n",
    "--namespace",
    default=None,
    help="Kubernetes: the namespace (default: the stack file's kubernetes.namespace, or "
    "the stack's name).",
)
@click.option(
    "--timeout", type=DURATION, default=300.0, show_default=True, help="Give up after this long."
)
@click.option(
    "-w/-W",
    "--watch/--no-watch",
    default=True,
    show_default=True,
    help="Wait until the rollout ends (--no-watch: print where it is and return).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per status seen (JSON lines), the last one final.",
)
@click.argument("name")
@click.pass_context
def status(
    ctx: click.Context,
    *,
    stack_file: Path | None,
    kubeconfig: Path | None,
    context: str | None,
    namespace: str | None,
    timeout: float,
    watch: bool,
    as_json: bool,
    name: str,
) -> None:
    """Wait until NAME's rollout ends, showing its progress (new instances serving of
    the total, the revision, why it failed or was reverted). Exits 0 when it is complete
    (or paused, saying so), 1 when it failed or was reverted, or the timeout passed.

    On Kubernetes (with --kubeconfig, --context or --namespace, or when the stack is not
    up on this machine) NAME is a service, a platform part such as kafka, or
    deployment/NAME, statefulset/NAME: every replica updated, ready and available."""
    paths = None
    if kubeconfig is None and context is None and namespace is None:
        paths = _local(ctx, stack_file)
    if paths is not None:
        _local_status(paths, name, timeout, watch, as_json)
        return
    _kube_status(ctx, stack_file, kubeconfig, context, namespace, timeout, as_json, name)


def _local_status(paths: Any, name: str, timeout: float, watch: bool, as_json: bool) -> None:
    from leapfrog.runtime.local.rollout_client import follow, request_rollout

    if not watch:
        seen = request_rollout(paths, "status", name)
        click.echo(json.dumps(seen) if as_json else _line(seen))
        _exit_for(seen)
        return
    last: dict[str, Any] = {}
    if as_json:
        for seen in follow(paths, name, timeout):
            click.echo(json.dumps(seen))
            last = seen
    else:
        with Live(Text(f"waiting for {name}..."), console=console, transient=True) as live:
            for seen in follow(paths, name, timeout):
                live.update(Text(_line(seen)))
                last = seen
        mark = "[red]✗[/]" if last.get("phase") in _FAILED else "[green]✓[/]"
        console.print(f"{mark} {_line(last)}", highlight=False)
    _exit_for(last)


def _line(seen: dict[str, Any]) -> str:
    return str(seen.get("message") or seen.get("phase"))


def _exit_for(seen: dict[str, Any]) -> None:
    if seen.get("phase") in _FAILED:
        raise SystemExit(1)


def _kube_status(  # noqa: PLR0917 (the command's options, passed on)
    ctx: click.Context,
    stack_file: Path | None,
    kubeconfig: Path | None,
    context: str | None,
    namespace: str | None,
    timeout: float,
    as_json: bool,
    name: str,
) -> None:
    from leapfrog.runtime import kubernetes

    if namespace is None:
        namespace = kubernetes.kube_context(load_chosen(ctx, stack_file)).namespace
    client = kubernetes.connect(kubeconfig, context)
    if as_json:
        last: dict[str, object] = {}

        def emit(seen: kubernetes.RolloutStatus) -> None:
            nonlocal last
            record = seen.as_dict()
            if record != last:
                click.echo(json.dumps(record))
                last = record

        kubernetes.rollout_status(client, namespace, name, timeout=timeout, on_status=emit)
        return
    with Live(Text(f"waiting for {name}..."), console=console, transient=True) as live:

        def show(seen: kubernetes.RolloutStatus) -> None:
            live.update(
                Text(
                    f"{seen.kind.lower()}/{seen.name}: {seen.message} "
                    f"(updated {seen.updated}, ready {seen.ready}, available {seen.available}"
                    f" of {seen.desired})"
                )
            )

        done = kubernetes.rollout_status(client, namespace, name, timeout=timeout, on_status=show)
    console.print(f"[green]✓[/] {done.message}")


@rollout.command()
@file_option()
@click.option("--revision", type=int, default=None, help="Show this revision's service section.")
@click.option("--json", "as_json", is_flag=True, help="The history as one JSON object.")
@click.argument("name")
@click.pass_context
def history(
    ctx: click.Context, stack_file: Path | None, revision: int | None, as_json: bool, name: str
) -> None:
    """NAME's revisions (the newest 10 are kept): what made each (`up`, an undo), its
    version, when, and how its rollout ended (complete, failed and why, reverted).
    Read from the state directory while the stack is down."""
    from leapfrog.runtime.local.rollout_client import history_of, request_rollout

    paths = _local(ctx, stack_file)
    if paths is not None:
        body = request_rollout(paths, "history", name)
    else:
        body = history_of(state_paths(ctx, stack_file), name)
    revisions: list[dict[str, Any]] = body["revisions"]
    if revision is not None:
        found = next((r for r in revisions if r["number"] == revision), None)
        if found is None:
            kept = ", ".join(str(r["number"]) for r in revisions) or "none"
            raise LeapfrogError(f"{name} has no revision {revision}", hint=f"kept: {kept}")
        click.echo(json.dumps(found, indent=2))
        return
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    table = Table(title=f"{name}: revisions", title_justify="left")
    for column in ("REVISION", "CAUSE", "VERSION", "CREATED", "OUTCOME"):
        table.add_column(column)
    for item in revisions:
        mark = " (current)" if item["number"] == body["current"] else ""
        created = datetime.datetime.fromtimestamp(item["created"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            f"{item['number']}{mark}",
            item["cause"],
            item.get("version") or "",
            created,
            item.get("outcome") or "",
        )
    console.print(table)


def _simple(action: str, doc: str) -> click.Command:
    @file_option()
    @click.option("--json", "as_json", is_flag=True, help="The rollout's status as JSON.")
    @click.argument("name")
    @click.pass_context
    def command(ctx: click.Context, stack_file: Path | None, as_json: bool, name: str) -> None:
        from leapfrog.runtime.local.rollout_client import request_rollout

        seen = request_rollout(_need_local(ctx, stack_file), action, name)
        click.echo(json.dumps(seen)) if as_json else console.print(_line(seen), highlight=False)

    command.__doc__ = doc
    return click.command(action)(command)


rollout.add_command(
    _simple(
        "pause",
        "Hold NAME's rollout in progress after its current step (the instances already "
        "replaced keep serving beside the old ones) until `leapfrog rollout resume NAME`.",
    )
)
rollout.add_command(
    _simple(
        "resume",
        "Continue NAME's paused rollout (paused by `rollout pause`, or by its canary).",
    )
)
rollout.add_command(
    _simple(
        "promote",
        "Promote NAME's canary: the rollout paused with `canary: N` new instances goes on "
        "to replace every instance (the same as `resume`).",
    )
)


@rollout.command()
@file_option()
@click.option(
    "--to-revision",
    "to",
    type=int,
    default=None,
    help="The revision to go back to (default: the one before the current).",
)
@click.option("--json", "as_json", is_flag=True, help="The rollout's status as JSON.")
@click.argument("name")
@click.pass_context
def undo(
    ctx: click.Context, stack_file: Path | None, to: int | None, as_json: bool, name: str
) -> None:
    """Roll NAME back to its previous revision (or --to-revision N) the same safe way as
    any rollout, recorded as a new revision. Returns at once; `leapfrog rollout status
    NAME` waits for it. The stack file is not changed: a later `leapfrog up` applies it
    again (as `kubectl apply` after `kubectl rollout undo`)."""
    from leapfrog.runtime.local.rollout_client import request_rollout

    extra = {"to": to} if to is not None else {}
    seen = request_rollout(_need_local(ctx, stack_file), "undo", name, **extra)
    if as_json:
        click.echo(json.dumps(seen))
        return
    if not seen.get("undone"):
        console.print(f"{name} already runs revision {seen.get('current')}: nothing to undo")
        return
    console.print(f"{name}: rolling back to revision {seen['revision']}", highlight=False)
    console.print(f"  [dim]leapfrog rollout status {name}[/] waits for it")
