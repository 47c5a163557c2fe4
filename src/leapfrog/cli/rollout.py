"""`leapfrog rollout status|history|undo|pause|resume|promote NAME`: a service's rollouts
on the stack that is up (the local supervisor) or on Kubernetes (the stack's Deployment),
each target behind the same contract (runtime/rollout_control.py)."""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click
from rich.live import Live
from rich.table import Table
from rich.text import Text

from leapfrog.cli.kube_options import local_or_cluster_options
from leapfrog.cli.options import (
    DURATION,
    console,
    file_option,
    load_chosen,
    running_state_paths,
    state_paths,
)
from leapfrog.runtime.rollout_control import FAILED
from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from leapfrog.runtime.rollout_control import RolloutControl

__all__ = ["rollout"]

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def rollout() -> None:
    """A service's rollouts: each change `leapfrog up` applies is a revision, rolled out
    an instance at a time with no request lost, reverted automatically when its new
    instances do not pass (kubectl rollout's commands, on the stack that is up).

    With --target kubernetes (or --kubeconfig, --context, --namespace) they act on the
    stack's Deployment (or StatefulSet) on the cluster, as kubectl rollout does: its
    ReplicaSets (ControllerRevisions) are the revisions, undo puts one's pod template
    back, pause and resume set spec.paused; a canary is the Deployment NAME-canary, which
    promote rolls onto NAME and undo deletes (a StatefulSet's: its highest ordinals held
    by its partition, which promote sets to 0 and undo puts back). `status` also goes
    to the cluster when the stack is not up here."""


def with_control(*, kube_when_down: bool = False) -> Callable[[F], F]:
    """The options choosing the target (this machine's supervisor or the cluster), turned
    into the command's `control` (the target's rollouts) and `flags` (the options that
    name the target again in a hint). `kube_when_down`: the cluster when the stack is
    not up here and no target is named."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def command(
            *args: Any,
            stack_file: Path | None,
            target: str | None,
            kubeconfig: Path | None,
            context: str | None,
            namespace: str | None,
            **kwargs: Any,
        ) -> Any:
            control, flags = _control(
                click.get_current_context(),
                stack_file,
                target,
                kubeconfig,
                context,
                namespace,
                kube_when_down=kube_when_down,
            )
            return func(*args, control=control, flags=flags, **kwargs)

        wrapped: Any = local_or_cluster_options(
            "The stack up on this machine", "its Deployment on the cluster"
        )(command)
        return cast("F", wrapped)

    return decorate


def _local(ctx: click.Context, stack_file: Path | None) -> Any:
    """The state dir of the stack when it is up on this machine, else None."""
    from leapfrog.runtime import local

    try:
        paths = running_state_paths(ctx, stack_file)
    except LeapfrogError:
        return None
    return paths if local.running(paths) is not None else None


def _kube(
    ctx: click.Context,
    stack_file: Path | None,
    kubeconfig: Path | None,
    context: str | None,
    namespace: str | None,
) -> RolloutControl:
    from leapfrog.runtime import kubernetes
    from leapfrog.spec import SpecError

    services: list[str] = []
    try:
        stack = load_chosen(ctx, stack_file)
    except (LeapfrogError, SpecError):
        if namespace is None:
            raise
    else:
        services = list(stack.spec.services)
        namespace = namespace or kubernetes.kube_context(stack).namespace
    assert namespace is not None
    client = kubernetes.connect(kubeconfig, context)
    return kubernetes.KubeRollouts(client, namespace, services)


def _control(  # noqa: PLR0917 (the command's options, passed on)
    ctx: click.Context,
    stack_file: Path | None,
    target: str | None,
    kubeconfig: Path | None,
    context: str | None,
    namespace: str | None,
    *,
    kube_when_down: bool = False,
) -> tuple[RolloutControl, str]:
    """The target's rollouts, and the options that name it again in a hint."""
    from leapfrog.runtime.local.rollout_client import LocalRollouts

    cluster = kubeconfig is not None or context is not None or namespace is not None
    if target == "kubernetes" or (target is None and cluster):
        return _kube(ctx, stack_file, kubeconfig, context, namespace), " --target kubernetes"
    paths = _local(ctx, stack_file)
    if paths is not None:
        return LocalRollouts(paths, running=True), ""
    if target is None and kube_when_down:
        return _kube(ctx, stack_file, kubeconfig, context, namespace), " --target kubernetes"
    return LocalRollouts(state_paths(ctx, stack_file), running=False), ""


@rollout.command()
@file_option()
@with_control(kube_when_down=True)
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
def status(
    *,
    control: RolloutControl,
    flags: str,
    timeout: float,
    watch: bool,
    as_json: bool,
    name: str,
) -> None:
    """Wait until NAME's rollout ends, showing its progress (new instances serving of
    the total, the revision, why it failed or was reverted). Exits 0 when it is complete
    (or paused, saying so), 1 when it failed or was reverted, or the timeout passed.

    On Kubernetes (--target kubernetes, a cluster option, or when the stack is not up on
    this machine) NAME is a service, a platform part such as kafka, or deployment/NAME,
    statefulset/NAME: every replica updated, ready and available; a Deployment past its
    progress deadline has failed (exit 1)."""
    if not watch:
        seen = control.status(name)
        click.echo(json.dumps(seen)) if as_json else console.print(_line(seen), highlight=False)
        _exit_for(seen)
        return
    last: dict[str, Any] = {}
    if as_json:
        for seen in control.follow(name, timeout):
            click.echo(json.dumps(seen))
            last = seen
    else:
        with Live(Text(f"waiting for {name}..."), console=console, transient=True) as live:
            for seen in control.follow(name, timeout):
                live.update(Text(_line(seen)))
                last = seen
        mark = "[red]✗[/]" if last.get("phase") in FAILED else "[green]✓[/]"
        console.print(f"{mark} {_line(last)}", highlight=False)
    _exit_for(last)


def _line(seen: dict[str, Any]) -> str:
    return str(seen.get("message") or seen.get("phase"))


def _exit_for(seen: dict[str, Any]) -> None:
    if seen.get("phase") in FAILED:
        raise SystemExit(1)


@rollout.command()
@file_option()
@with_control()
@click.option("--revision", type=int, default=None, help="Show this revision's definition.")
@click.option("--json", "as_json", is_flag=True, help="The history as one JSON object.")
@click.argument("name")
def history(
    *,
    control: RolloutControl,
    flags: str,
    revision: int | None,
    as_json: bool,
    name: str,
) -> None:
    """NAME's revisions (the newest 10 are kept): what made each (`up`, an undo), its
    version, when, and how its rollout ended (complete, failed and why, reverted).
    Read from the state directory while the stack is down. On Kubernetes: the
    Deployment's ReplicaSets (a StatefulSet's ControllerRevisions; their
    revisionHistoryLimit), as `kubectl rollout history`. A canary held now is named
    under the table: its revision, instances, since when, and that it waits for
    promote."""
    body = control.history(name)
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
    held = (body.get("canary") or {}).get("revision")
    for item in revisions:
        mark = " (current)" if item["number"] == body["current"] else ""
        if item["number"] == held:
            mark += " (canary)"
        created = datetime.datetime.fromtimestamp(item["created"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            f"{item['number']}{mark}",
            item["cause"],
            item.get("version") or "",
            created,
            item.get("outcome") or "",
        )
    console.print(table)
    if body.get("canary"):
        console.print(_canary_line(name, body["canary"], flags), highlight=False)
    if flags:
        console.print(
            f"  [dim]leapfrog rollout history {name} --revision N{flags}[/] shows one's pod "
            "template",
            highlight=False,
        )


def _canary_line(name: str, canary: dict[str, Any], flags: str) -> str:
    """The canary a history shows: its revision, instances, since when, what it waits for."""
    number = canary.get("revision")
    what = f"revision {number}" if number is not None else "a new revision"
    version = canary.get("version") or ", ".join(canary.get("images") or [])
    pods = ", ".join(canary.get("instances") or []) or "none yet"
    line = (
        f"canary: {what}{f' ({version})' if version else ''} on {canary['count']} "
        f"instance(s) ({pods}) beside {canary['beside']}"
    )
    if canary.get("since"):
        since = datetime.datetime.fromtimestamp(canary["since"]).strftime("%Y-%m-%d %H:%M:%S")
        line += f", since {since}"
    if canary.get("waits_for") == "promote":
        return (
            f"{line}; waits for `leapfrog rollout promote {name}{flags}` "
            f"(`leapfrog rollout undo {name}{flags}` takes it back)"
        )
    return f"{line}; {canary.get('phase')}: {canary.get('message')}"


def _simple(action: str, doc: str) -> click.Command:
    @file_option()
    @with_control()
    @click.option("--json", "as_json", is_flag=True, help="The rollout's status as JSON.")
    @click.argument("name")
    def command(*, control: RolloutControl, flags: str, as_json: bool, name: str) -> None:
        seen: dict[str, Any] = getattr(control, action)(name)
        click.echo(json.dumps(seen)) if as_json else console.print(_line(seen), highlight=False)

    command.__doc__ = doc
    return click.command(action)(command)


rollout.add_command(
    _simple(
        "pause",
        "Hold NAME's rollout in progress after its current step (the instances already "
        "replaced keep serving beside the old ones) until `leapfrog rollout resume NAME`. "
        "On Kubernetes: the Deployment's spec.paused (changes of its template wait).",
    )
)
rollout.add_command(
    _simple(
        "resume",
        "Continue NAME's paused rollout (paused by `rollout pause`, or by its canary).",
    )
)


@rollout.command()
@file_option()
@with_control()
@click.option(
    "--timeout",
    type=DURATION,
    default=300.0,
    show_default=True,
    help="Kubernetes: how long to wait for the Deployment to roll the canary's template out.",
)
@click.option("--json", "as_json", is_flag=True, help="The rollout's status as JSON.")
@click.argument("name")
def promote(
    *, control: RolloutControl, flags: str, timeout: float, as_json: bool, name: str
) -> None:
    """Promote NAME's canary: the rollout paused with `canary: N` new instances goes on
    to replace every instance (without a canary: the same as `resume`). On Kubernetes the
    canary Deployment's (NAME-canary) template goes on the Deployment, which rolls it
    out; once it has, the canary is deleted (this waits, up to --timeout). A StatefulSet's
    canary: its partition set to 0, waiting until every pod runs the new revision."""
    seen = control.promote(name, timeout)
    if as_json:
        click.echo(json.dumps(seen))
        return
    console.print(_line(seen), highlight=False)
    if seen.get("note"):
        console.print(f"  {seen['note']}", style="dim", highlight=False)


@rollout.command()
@file_option()
@with_control()
@click.option(
    "--to-revision",
    "to",
    type=int,
    default=None,
    help="The revision to go back to (default: the one before the current).",
)
@click.option("--json", "as_json", is_flag=True, help="The rollout's status as JSON.")
@click.argument("name")
def undo(
    *,
    control: RolloutControl,
    flags: str,
    to: int | None,
    as_json: bool,
    name: str,
) -> None:
    """Roll NAME back to its previous revision (or --to-revision N) the same safe way as
    any rollout, recorded as a new revision. Returns at once; `leapfrog rollout status
    NAME` waits for it. The stack file is not changed: a later `leapfrog up` applies it
    again (as `kubectl apply` after `kubectl rollout undo`). On Kubernetes the chosen
    ReplicaSet's pod template goes back on the Deployment (a StatefulSet: its
    ControllerRevision's), as `kubectl rollout undo`; a canary (NAME-canary) is deleted
    instead (and the Deployment undone too with --to-revision)."""
    seen = control.undo(name, to)
    if as_json:
        click.echo(json.dumps(seen))
        return
    if seen.get("canary_removed"):
        console.print(f"{name}: canary {seen['canary_removed']} removed", highlight=False)
    elif not seen.get("undone"):
        console.print(f"{name} already runs revision {seen.get('current')}: nothing to undo")
        return
    if "revision" not in seen:  # only the canary went
        console.print(f"  {name} stays on revision {seen.get('current')}", highlight=False)
        return
    console.print(f"{name}: rolling back to revision {seen['revision']}", highlight=False)
    console.print(f"  [dim]leapfrog rollout status {name}{flags}[/] waits for it", highlight=False)
