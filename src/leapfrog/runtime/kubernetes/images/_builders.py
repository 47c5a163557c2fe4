"""The image builders leapfrog drives: one contract, one class per program. buildah
(no daemon, Debian's package) first, then podman, then docker when its daemon answers.
`LEAPFROG_IMAGE_BUILDER` picks one by name."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar

from leapfrog.runtime.kubernetes.images._run import Progress, run_streaming
from leapfrog.shared.errors import LeapfrogError

__all__ = ["BUILDERS", "Buildah", "Builder", "Docker", "Podman", "find_builder"]


class Builder:
    """Builds a Containerfile, says whether it has an image, writes a docker-archive of
    it, loads one, names and pushes it."""

    name: ClassVar[str]
    program: ClassVar[str]
    install_hint: ClassVar[str]
    tls_flag: ClassVar[bool] = True
    """Whether `push` takes --tls-verify (docker's daemon decides by its own config)."""

    def __init__(self, path: str) -> None:
        self.path = path

    # -- the commands, as argv (tested without the program) --------------------------
    def build_argv(
        self, containerfile: Path, context: Path, tag: str, args: Mapping[str, str]
    ) -> list[str]:
        argv = [self.path, "build", "-f", str(containerfile), "-t", tag]
        for name, value in sorted(args.items()):
            argv += ["--build-arg", f"{name}={value}"]
        return [*argv, str(context)]

    def exists_argv(self, tag: str) -> list[str]:
        return [self.path, "image", "inspect", tag]

    def save_argv(self, tag: str, archive: Path) -> list[str]:
        return [self.path, "save", "-o", str(archive), tag]

    def load_argv(self, archive: Path) -> list[str]:
        return [self.path, "load", "-i", str(archive)]

    def tag_argv(self, tag: str, other: str) -> list[str]:
        return [self.path, "tag", tag, other]

    def push_argv(self, tag: str, tls_verify: bool) -> list[str]:
        flag = [f"--tls-verify={str(tls_verify).lower()}"] if self.tls_flag else []
        return [self.path, "push", *flag, tag]

    def remove_argv(self, tag: str) -> list[str]:
        return [self.path, "rmi", tag]

    # -- running them -----------------------------------------------------------------
    def _run(self, argv: list[str], what: str, progress: Progress | None = None) -> None:
        run_streaming(argv, f"{self.name}: {what}", progress)

    def build(
        self,
        containerfile: Path,
        context: Path,
        tag: str,
        args: Mapping[str, str],
        progress: Progress | None = None,
    ) -> None:
        self._run(self.build_argv(containerfile, context, tag, args), f"build {tag}", progress)

    def exists(self, tag: str) -> bool:
        done = subprocess.run(self.exists_argv(tag), capture_output=True, check=False)
        return done.returncode == 0

    def save(self, tag: str, archive: Path) -> None:
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_name(archive.name + ".partial")
        partial.unlink(missing_ok=True)
        self._run(self.save_argv(tag, partial), f"write {tag} to {archive}")
        partial.replace(archive)

    def remove(self, tag: str) -> None:
        """Forgets an image (best effort: one in use stays)."""
        subprocess.run(self.remove_argv(tag), capture_output=True, check=False)

    def load(self, archive: Path) -> None:
        self._run(self.load_argv(archive), f"load {archive}")

    def push(self, tag: str, other: str, tls_verify: bool = True) -> None:
        self._run(self.tag_argv(tag, other), f"tag {tag} as {other}")
        self._run(self.push_argv(other, tls_verify), f"push {other}")


class Buildah(Builder):
    name = "buildah"
    program = "buildah"
    install_hint = "apt-get install buildah"

    def build_argv(
        self, containerfile: Path, context: Path, tag: str, args: Mapping[str, str]
    ) -> list[str]:
        # chroot isolation: a RUN step needs no OCI runtime nor cgroup setup (crun refuses
        # cgroup v1/hybrid hosts); layers as Docker's format, which every runtime reads.
        argv = [
            self.path,
            "build",
            "--isolation",
            "chroot",
            "--format",
            "docker",
            "--layers",
            "-f",
            str(containerfile),
            "-t",
            tag,
        ]
        for name, value in sorted(args.items()):
            argv += ["--build-arg", f"{name}={value}"]
        return [*argv, str(context)]

    def exists_argv(self, tag: str) -> list[str]:
        return [self.path, "inspect", "--type", "image", tag]

    def save_argv(self, tag: str, archive: Path) -> list[str]:
        return [self.path, "push", "--quiet", tag, f"docker-archive:{archive}:{tag}"]

    def load_argv(self, archive: Path) -> list[str]:
        return [self.path, "pull", "--quiet", f"docker-archive:{archive}"]


class Podman(Builder):
    name = "podman"
    program = "podman"
    install_hint = "apt-get install podman"

    def save_argv(self, tag: str, archive: Path) -> list[str]:
        return [self.path, "save", "--format", "docker-archive", "-o", str(archive), tag]


class Docker(Builder):
    name = "docker"
    program = "docker"
    install_hint = "install Docker Engine and start its daemon"
    tls_flag = False

    def usable(self) -> bool:
        """The client alone builds nothing: its daemon must answer."""
        done = subprocess.run(
            [self.path, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            check=False,
            timeout=20,
        )
        return done.returncode == 0


BUILDERS: tuple[type[Builder], ...] = (Buildah, Podman, Docker)


def find_builder(which: Callable[[str], str | None] = shutil.which) -> Builder:
    """The first builder this machine has (`LEAPFROG_IMAGE_BUILDER` names one)."""
    wanted = os.environ.get("LEAPFROG_IMAGE_BUILDER")
    kinds = [b for b in BUILDERS if b.name == wanted] if wanted else list(BUILDERS)
    if wanted and not kinds:
        names = ", ".join(b.name for b in BUILDERS)
        raise LeapfrogError(
            f"LEAPFROG_IMAGE_BUILDER={wanted} is not a builder leapfrog knows",
            hint=f"use one of {names}, or unset it to take the first one installed",
        )
    for kind in kinds:
        path = which(kind.program)
        if path is None:
            continue
        builder = kind(path)
        if isinstance(builder, Docker) and not builder.usable():
            continue
        return builder
    if wanted:
        raise LeapfrogError(f"{wanted} not found", hint=kinds[0].install_hint)
    raise LeapfrogError(
        "no image builder found (buildah, podman, or docker with a running daemon)",
        hint="buildah needs no daemon: apt-get install buildah",
    )
