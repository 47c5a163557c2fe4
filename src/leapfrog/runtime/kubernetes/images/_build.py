"""`leapfrog image build`: leapfrog's own image from the cache or built anew, then the
stack's service images that declare a `build:` on top of it; each written as a
docker-archive a node imports (`ctr -n k8s.io images import`)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leapfrog.runtime.kubernetes._service import container_image
from leapfrog.runtime.kubernetes.images._builders import Builder
from leapfrog.runtime.kubernetes.images._layers import (
    build_deps_layer,
    build_project_layer,
    build_rootfs,
)
from leapfrog.runtime.kubernetes.images._recipe import CONTAINERFILE, base_key, reference
from leapfrog.runtime.kubernetes.images._record import (
    Built,
    current_recipe,
    forget_built,
    images_dir,
    load_built,
    project_dir,
    save_built,
)
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.files import exclusive_lock
from leapfrog.spec import Stack

__all__ = ["ImageResult", "build_leapfrog_image", "build_service_images"]

Progress = Callable[[str], None]
KEEP = 3
"""Builds of leapfrog's image kept in the cache (and in the builder): the newest ones."""
LEAPFROG_IMAGE_ARG = "LEAPFROG_IMAGE"
"""The build argument a service's Containerfile gets: leapfrog's built image."""


@dataclass(frozen=True)
class ImageResult:
    part: str
    """`leapfrog`, or the service's name."""
    reference: str
    archive: str
    size: int
    cached: bool
    seconds: float
    pushed: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "reference": self.reference,
            "archive": self.archive,
            "size": self.size,
            "cached": self.cached,
            "seconds": round(self.seconds, 2),
            "pushed": self.pushed,
        }


def _hardlink_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def build_leapfrog_image(
    builder: Builder,
    progress: Progress,
    *,
    mirror: str | None = None,
    push: str | None = None,
    tls_verify: bool = True,
    cache: Path | None = None,
) -> ImageResult:
    """leapfrog's image for this checkout: nothing is rebuilt when the cache holds its
    key (the builder loads the archive if it lacks the image)."""
    project = project_dir()
    if project is None:
        raise LeapfrogError(
            "leapfrog's image is built from its source checkout (uv.lock), and this "
            "leapfrog is an installed package",
            hint="run `leapfrog image build` from a clone of leapfrog (scripts/bootstrap.sh)",
        )
    root = images_dir(cache)
    root.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    # One build at a time on this machine: two would write the same layers and record.
    with exclusive_lock(root / "build.lock"):
        return _leapfrog_image(
            builder,
            progress,
            project,
            root,
            began,
            mirror=mirror,
            push=push,
            tls_verify=tls_verify,
            cache=cache,
        )


def _leapfrog_image(
    builder: Builder,
    progress: Progress,
    project: Path,
    root: Path,
    began: float,
    *,
    mirror: str | None,
    push: str | None,
    tls_verify: bool,
    cache: Path | None,
) -> ImageResult:
    recipe = current_recipe(project)
    here = root / recipe.key
    archive = here / "leapfrog.tar"
    local = reference(recipe.tag)
    built = load_built(cache).get(recipe.key)
    cached = built is not None and archive.is_file()
    if cached:
        if not builder.exists(local):
            progress(f"loading {archive.name} into {builder.name}")
            builder.load(archive)
    else:
        base = root / f"base-{base_key()[:16]}" / "rootfs.tar"
        if not base.is_file():
            progress("making the Debian base with mmdebstrap (the first time: a minute or two)")
            build_rootfs(base, mirror, progress)
        deps = root / f"deps-{recipe.deps_key[:16]}" / "deps.tar"
        if not deps.is_file():
            build_deps_layer(project, deps, progress)
        app = here / "app.tar"
        if not app.is_file():
            build_project_layer(project, app, progress)
        with tempfile.TemporaryDirectory(prefix="context-", dir=here) as tmp:
            context = Path(tmp)
            for layer in (base, deps, app):
                _hardlink_or_copy(layer, context / layer.name)
            (context / "Containerfile").write_text(CONTAINERFILE)
            progress(f"building {local} with {builder.name}")
            builder.build(context / "Containerfile", context, local, {}, progress)
        progress(f"writing {archive}")
        builder.save(local, archive)
        (here / "Containerfile").write_text(CONTAINERFILE)
        size = sum(layer.stat().st_size for layer in (base, deps, app))
        built = Built(recipe.key, local, str(archive), size, builder.name)
        save_built(built, cache)
        _prune(builder, root, keep=KEEP, cache=cache)
    assert built is not None
    pushed = None
    if push:
        pushed = reference(recipe.tag, push)
        progress(f"pushing {pushed}")
        builder.push(local, pushed, tls_verify)
        built.pushed = [*(p for p in built.pushed if p != pushed), pushed]
        save_built(built, cache)
    return ImageResult(
        "leapfrog", local, str(archive), built.size, cached, time.monotonic() - began, pushed
    )


def _prune(builder: Builder, root: Path, *, keep: int, cache: Path | None) -> None:
    """Only the `keep` newest builds stay (each source change is a new build, with an
    archive of 200 MiB), and only the layers of the current one: a kept older build is
    loaded from its archive, never rebuilt."""
    entries = sorted(
        load_built(cache).values(), key=lambda b: _mtime(Path(b.archive)), reverse=True
    )
    for old in entries[keep:]:
        forget_built(old.key, cache)
        shutil.rmtree(root / old.key, ignore_errors=True)
        builder.remove(old.reference)
    current = {f"deps-{current_recipe().deps_key[:16]}", f"base-{base_key()[:16]}"}
    for layer in [*root.glob("deps-*"), *root.glob("base-*")]:
        if layer.name not in current:
            shutil.rmtree(layer, ignore_errors=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _file_name(reference_: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", reference_) + ".tar"


def build_service_images(
    stack: Stack,
    builder: Builder,
    leapfrog_reference: str,
    progress: Progress,
    *,
    push: bool = False,
    tls_verify: bool = True,
    cache: Path | None = None,
) -> list[ImageResult]:
    """Each service with `build:` and `image:`, built as the name `render` gives its
    pods (`image`, tagged with `version`), FROM leapfrog's image (build argument
    LEAPFROG_IMAGE). `push`: pushed to that very name."""
    results = []
    for name, service in stack.spec.services.items():
        if service.build is None:
            continue
        if not service.image:
            raise LeapfrogError(
                f"services.{name}.build: the service has no `image` to build",
                hint=f"name the image it becomes: services.{name}.image",
            )
        began = time.monotonic()
        target = container_image(service)
        context = (stack.base_dir / service.build.context).resolve()
        containerfile = (stack.base_dir / service.build.containerfile).resolve()
        if not containerfile.is_file():
            raise LeapfrogError(
                f"services.{name}.build.containerfile: {containerfile} does not exist",
                hint="the path is relative to the stack file's directory",
            )
        args = {**service.build.args, LEAPFROG_IMAGE_ARG: leapfrog_reference}
        progress(f"building {target} ({name}) with {builder.name}")
        builder.build(containerfile, context, target, args, progress)
        archive = images_dir(cache) / "services" / _file_name(target)
        progress(f"writing {archive}")
        builder.save(target, archive)
        pushed = None
        if push:
            progress(f"pushing {target}")
            builder.push(target, target, tls_verify)
            pushed = target
        results.append(
            ImageResult(
                name,
                target,
                str(archive),
                archive.stat().st_size,
                False,
                time.monotonic() - began,
                pushed,
            )
        )
    return results
