"""`leapfrog image build`: leapfrog's own image and the stack's service images."""

from __future__ import annotations

import json
from pathlib import Path

import click

from leapfrog.cli.options import chosen_path, console, err, file_option, load_chosen

__all__ = ["image"]


def _size(value: int) -> str:
    return f"{value / 1024**2:.0f} MiB"


@click.group()
def image() -> None:
    """Container images for Kubernetes: leapfrog's own (the load balancer's renderer, the
    pipelines, the console, the backup operator and its Jobs) and the stack's services'."""


@image.command()
@file_option()
@click.option(
    "--push",
    "registry",
    metavar="REGISTRY",
    default=None,
    help="Also push leapfrog's image as REGISTRY/leapfrog:<tag> (render then refers to "
    "that name), and each service's image to the name its `image` gives.",
)
@click.option(
    "--no-tls-verify",
    is_flag=True,
    help="Push over plain HTTP or to a registry with a certificate this machine does not trust.",
)
@click.option(
    "--mirror",
    metavar="URL",
    default=None,
    envvar="LEAPFROG_DEBIAN_MIRROR",
    help="Debian mirror the base is made from (an air-gapped machine's own); "
    "default: deb.debian.org. Also $LEAPFROG_DEBIAN_MIRROR.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was built as JSON.")
@click.pass_context
def build(
    ctx: click.Context,
    *,
    stack_file: Path | None,
    registry: str | None,
    no_tls_verify: bool,
    mirror: str | None,
    as_json: bool,
) -> None:
    """Build leapfrog's image, then the image of each service of the stack file that
    declares `build:` (FROM leapfrog's image), and write each as a docker-archive that a
    node imports (`ctr -n k8s.io images import FILE`, `docker load -i FILE`).

    No registry is needed: the base is a Debian root file system made by mmdebstrap from
    Debian's packages, leapfrog's environment comes from uv.lock. The build is cached by
    its key (uv.lock, the recipe, leapfrog's sources) under the cache's images/ folder; a
    cached build takes a second. Builds with buildah (no daemon), else podman, else docker
    ($LEAPFROG_IMAGE_BUILDER picks one). `leapfrog render` refers to the image built here.
    """
    from leapfrog.runtime.kubernetes import images

    builder = images.find_builder()
    quiet = as_json
    with err.status("leapfrog image: checking the cache", spinner="dots") as status:

        def progress(line: str) -> None:
            if not quiet:
                status.update(f"[dim]{line}[/]")

        own = images.build_leapfrog_image(
            builder, progress, mirror=mirror, push=registry, tls_verify=not no_tls_verify
        )
        if not as_json:
            _print(own)
        path = chosen_path(ctx, stack_file)
        services: list[images.ImageResult] = []
        if path.is_file():
            stack = load_chosen(ctx, stack_file)
            services = images.build_service_images(
                stack,
                builder,
                own.reference,
                progress,
                push=registry is not None,
                tls_verify=not no_tls_verify,
            )
            if not as_json:
                for result in services:
                    _print(result)
        elif stack_file is not None:
            raise click.UsageError(f"{stack_file} does not exist")
    if as_json:
        payload = {"builder": builder.name, "images": [r.as_dict() for r in [own, *services]]}
        click.echo(json.dumps(payload, indent=2))
        return
    console.print(
        f"[dim]import on a node: ctr -n k8s.io images import {own.archive}; "
        "`leapfrog render` refers to this image[/]"
    )


def _print(result: object) -> None:
    from leapfrog.runtime.kubernetes.images import ImageResult

    assert isinstance(result, ImageResult)
    how = "cached" if result.cached else f"built in {result.seconds:.0f}s"
    console.print(
        f"[green]✓[/] {result.part}: [bold]{result.reference}[/] ({how}, "
        f"{_size(result.size)})  {result.archive}"
    )
    if result.pushed:
        console.print(f"  pushed as [bold]{result.pushed}[/]")
