"""`leapfrog render`: the stack file as Kubernetes manifests."""

from __future__ import annotations

import json
from pathlib import Path

import click

from leapfrog.cli.kube_options import target_option
from leapfrog.cli.options import err, file_option, load_chosen
from leapfrog.runtime import kubernetes

__all__ = ["render"]


@click.command()
@file_option()
@target_option()
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write one YAML file per part (namespace, catalog, kafka, each service, network) "
    "into this folder, instead of one stream to stdout.",
)
@click.pass_context
def render(ctx: click.Context, stack_file: Path | None, target: str, output: Path | None) -> None:
    """Render the stack to Kubernetes manifests: Consul as the catalog, each component as
    a StatefulSet, each service as a Deployment with its Service, PodDisruptionBudget,
    autoscaler and NetworkPolicy.

    Generated passwords and tokens are not written unless the stack file sets
    `kubernetes.write_secrets`; `leapfrog apply` creates them in the cluster instead.
    """
    stack = load_chosen(ctx, stack_file)
    rendered = kubernetes.render_stack(stack)
    _hint_unbuilt(rendered)
    if output is None:
        click.echo(kubernetes.to_yaml(rendered.objects), nl=False)
        return
    paths = kubernetes.write_parts(rendered, output)
    err.print(
        f"[green]✓[/] {len(rendered.objects)} objects of stack [bold]{stack.name}[/] "
        f"(namespace {rendered.namespace}) in {len(paths)} files under {output}"
    )
    if rendered.secrets and not stack.spec.kubernetes.write_secrets:
        names = ", ".join(s.name for s in rendered.secrets)
        err.print(f"  [dim]generated Secrets ({names}) are created by `leapfrog apply`[/]")


def _hint_unbuilt(rendered: kubernetes.Rendered) -> None:
    """leapfrog's own image is named by the build that makes it; say so when no build
    made it on this machine yet (the manifests are the same either way)."""
    from leapfrog.runtime.kubernetes.images import leapfrog_image

    own = leapfrog_image()
    if own.built or own.reference not in json.dumps(rendered.objects):
        return
    err.print(
        f"[yellow]note:[/] leapfrog's image {own.reference} is not built on this machine: "
        "`leapfrog image build` builds it (or set kubernetes.images.leapfrog)"
    )
