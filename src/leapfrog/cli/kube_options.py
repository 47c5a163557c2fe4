"""Options shared by the Kubernetes commands (render, apply, rollout)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["cluster_options", "local_or_cluster_options", "target_option"]

F = TypeVar("F", bound=Callable[..., Any])


def target_option() -> Callable[[F], F]:
    return click.option(
        "--target",
        type=click.Choice(["kubernetes"]),
        default="kubernetes",
        show_default=True,
        help="Where the stack goes (Kubernetes is the one target besides `up`).",
    )


def cluster_options(func: F) -> F:
    func = click.option(
        "--context", default=None, help="Context of the kubeconfig (default: its current one)."
    )(func)
    return click.option(
        "--kubeconfig",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).",
    )(func)


def local_or_cluster_options(what_local: str, what_kubernetes: str) -> Callable[[F], F]:
    """`--target local|kubernetes`, `--kubeconfig`, `--context` and `-n`, for a command
    that acts on this machine or on a cluster; the command decides with them. The default
    target is kubernetes when a cluster option is given, else local."""

    def add(func: F) -> F:
        func = click.option(
            "-n",
            "--namespace",
            default=None,
            help="Kubernetes: the namespace (default: the stack file's "
            "kubernetes.namespace, or the stack's name).",
        )(func)
        func = cluster_options(func)
        return click.option(
            "--target",
            type=click.Choice(["local", "kubernetes"]),
            default=None,
            help=f"{what_local} (local), or {what_kubernetes} (kubernetes). Default: "
            "kubernetes when a cluster option is given, else local.",
        )(func)

    return add
