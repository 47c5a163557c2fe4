"""`leapfrog apply --target kubernetes`: the stack into a cluster, idempotently."""

from __future__ import annotations

import json
from pathlib import Path

import click

from leapfrog.cli.kube_options import cluster_options, target_option
from leapfrog.cli.options import DURATION, console, file_option, load_chosen
from leapfrog.runtime import kubernetes

__all__ = ["apply"]

_STYLE = {"created": "green", "configured": "yellow", "unchanged": "dim", "pruned": "red"}


@click.command()
@file_option()
@target_option()
@cluster_options
@click.option(
    "--dry-run", is_flag=True, help="Ask the API server what would change; change nothing."
)
@click.option(
    "--prune/--no-prune",
    default=True,
    show_default=True,
    help="Delete objects of this stack (by label) that the stack file no longer has.",
)
@click.option(
    "--wait",
    "wait",
    type=DURATION,
    default=None,
    help="Then wait this long (e.g. 5m) for every Deployment and StatefulSet to roll out: "
    "a failed rollout is reverted (auto_revert) and apply exits 1; a canary is promoted "
    "after promote_after.",
)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of changes, for scripts.")
@click.pass_context
def apply(
    ctx: click.Context,
    *,
    stack_file: Path | None,
    target: str,
    kubeconfig: Path | None,
    context: str | None,
    dry_run: bool,
    prune: bool,
    wait: float | None,
    as_json: bool,
) -> None:
    """Apply the rendered stack to a cluster with server-side apply (field manager
    `leapfrog`): each object is reported created, configured or unchanged, and objects
    this stack made earlier but no longer has are pruned.

    Generated passwords and tokens are created as Secrets when absent and never
    overwritten or printed (`kubectl get secret` reads them).
    """
    stack = load_chosen(ctx, stack_file)
    rendered = kubernetes.render_stack(stack)
    client = kubernetes.connect(kubeconfig, context)

    def show(change: kubernetes.Change) -> None:
        if not as_json:
            style = _STYLE.get(change.action, "")
            console.print(f"{change.kind.lower()}/{change.name} [{style}]{change.action}[/]")

    changes = kubernetes.apply_rendered(
        client, rendered, prune=prune, dry_run=dry_run, on_change=show
    )
    if as_json:
        click.echo(json.dumps([c.as_dict() for c in changes], indent=2))
    else:
        counts: dict[str, int] = {}
        for change in changes:
            counts[change.action] = counts.get(change.action, 0) + 1
        summary = ", ".join(f"{n} {a}" for a, n in counts.items()) or "nothing"
        suffix = " (dry run: nothing changed)" if dry_run else ""
        console.print(f"[green]✓[/] namespace {rendered.namespace}: {summary}{suffix}")
    if not dry_run:
        _canaries(rendered, changes, waiting=wait is not None, quiet=as_json)
    if wait is not None and not dry_run:

        def say(line: str) -> None:
            if not as_json:
                console.print(f"  {line}", style="dim", highlight=False)

        kubernetes.wait_rollouts(client, rendered, timeout=wait, say=say)


def _canaries(
    rendered: kubernetes.Rendered, changes: list[kubernetes.Change], *, waiting: bool, quiet: bool
) -> None:
    """Say what a canary apply made waits for."""
    if quiet:
        return
    for change in changes:
        service = change.name.removesuffix("-canary")
        plan = rendered.rollouts.get(service)
        if not change.canary or plan is None:
            continue
        then = (
            f"promoted after its pods are ready for {plan.promote_after:g}s"
            if plan.promote_after is not None and waiting
            else f"`leapfrog rollout promote {service} --target kubernetes` promotes it"
        )
        where = (
            f"beside {service}"
            if change.name != service
            else f"on the highest ordinals of {change.kind.lower()}/{service} (its partition)"
        )
        console.print(
            f"  {change.name}: {change.canary} pod(s) of the new template {where}; "
            f"{then}, `leapfrog rollout undo {service} --target kubernetes` takes it back",
            highlight=False,
        )
        if plan.promote_after is not None and not waiting:
            console.print(
                f"  [yellow]promote_after[/] acts while `leapfrog apply --wait D` waits; "
                f"without --wait, {change.name} waits for `rollout promote`",
                highlight=False,
            )
