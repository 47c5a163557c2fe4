"""`leapfrog rollout status NAME`: wait for a Deployment or StatefulSet to roll out."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.live import Live
from rich.text import Text

from leapfrog.cli.kube_options import cluster_options
from leapfrog.cli.options import DURATION, console, file_option, load_chosen
from leapfrog.runtime import kubernetes

__all__ = ["rollout"]


@click.group()
def rollout() -> None:
    """Rollouts on Kubernetes."""


@rollout.command()
@file_option()
@cluster_options
@click.option(
    "-n",
    "--namespace",
    default=None,
    help="Namespace (default: the stack file's kubernetes.namespace, or the stack's name).",
)
@click.option(
    "--timeout", type=DURATION, default=300.0, show_default=True, help="Give up after this long."
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
    as_json: bool,
    name: str,
) -> None:
    """Wait until NAME (a service, a platform part such as kafka, or deployment/NAME,
    statefulset/NAME) has rolled out: every replica updated, ready and available, no
    old ones left. Exits 1 when it fails or the timeout passes."""
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
