"""Named volumes: directories a service's instances keep across restarts, `down`/`up` and
rolling replacement, declared once under `volumes:` and used by services by name.

The models say what one declaration may hold; `check_volumes` and `check_volume_paths`
catch what only the whole stack shows (a name nobody declared, two volumes on one
directory), while the line that causes it is still known.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from leapfrog.spec._base import ByteSize, Model
from leapfrog.spec._messages import close_match_hint
from leapfrog.spec._yamlnodes import Locator
from leapfrog.spec.errors import Problem

if TYPE_CHECKING:
    from leapfrog.spec.models import StackSpec

__all__ = [
    "MIN_VOLUME_SIZE",
    "VolumeSpec",
    "VolumeUse",
    "check_volume_paths",
    "check_volumes",
    "default_mount",
    "volume_env_name",
]

MIN_VOLUME_SIZE = 8 * 1024**2
"""A size limit is a file system of that size (locally an ext4 image, on Kubernetes a
claim): below 8MiB its own structures leave too little for data."""
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


def volume_env_name(name: str) -> str:
    """The variable that carries a volume's path to an instance: LEAPFROG_VOLUME_<NAME>."""
    return "LEAPFROG_VOLUME_" + name.upper().replace("-", "_")


def default_mount(name: str) -> str:
    """Where the volume is mounted in a container on Kubernetes when `mount` is not given."""
    return f"/volumes/{name}"


class VolumeSpec(Model):
    """A named volume: a directory owned by the service's user (mode 0700), kept across
    restarts, `down`/`up` and rolling replacement until `leapfrog volume rm`."""

    scope: Literal["instance", "shared"] = Field(
        "instance",
        description="instance: a directory of its own per instance (web-1, web-2; a "
        "StatefulSet's volumeClaimTemplates on Kubernetes); shared: one directory for every "
        "instance of the services that use it (one ReadWriteMany claim on Kubernetes).",
    )
    size: ByteSize | None = Field(
        None,
        description="Size limit, such as 1Gi or 512MiB (at least 8MiB). Locally an ext4 file "
        "system of this size is loop-mounted per directory, which needs root; without root "
        "the limit is not enforced and `leapfrog volume ls` says so. On Kubernetes the "
        "claim's request (default 1Gi).",
        examples=["1Gi", "512MiB"],
    )
    path: str | None = Field(
        None,
        description="Directory on this machine, relative to the stack file's directory; "
        "per-instance volumes get a directory per instance inside it. Default: "
        "<state dir>/volumes/<name>.",
    )

    @field_validator("size")
    @classmethod
    def _big_enough(cls, value: int | None) -> int | None:
        if value is not None and value < MIN_VOLUME_SIZE:
            raise ValueError(
                f"a volume needs at least 8MiB ({value} bytes is too small for a file system)"
            )
        if value is not None and value > 1024**5:
            raise ValueError("expected at most 1PiB")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("expected a directory path, found an empty one")
        return value


class VolumeUse(Model):
    """A volume a service uses: its name under `volumes:`, and where a container sees it."""

    name: str = Field(description="Name of a volume declared under the stack's `volumes:`.")
    mount: str | None = Field(
        None,
        description="Absolute path the volume is mounted at in the container on Kubernetes "
        "(default /volumes/<name>). Locally each instance finds its directory in "
        "LEAPFROG_VOLUME_<NAME>, which on Kubernetes holds this path.",
        examples=["/var/lib/app"],
    )

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: object) -> object:
        # `- data` or `- data:/var/lib/app`, as in compose.
        if isinstance(value, str):
            name, sep, mount = value.partition(":")
            return {"name": name, "mount": mount} if sep else {"name": name}
        return value

    @field_validator("mount")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("/") or any(c in value for c in "\t\n:"):
            raise ValueError("expected an absolute path such as /var/lib/app")
        clean = posixpath.normpath(value)
        if clean == "/":
            raise ValueError("a volume cannot be mounted on / (the whole file system)")
        return clean

    @property
    def mount_path(self) -> str:
        return self.mount or default_mount(self.name)


def _nested(a: str | Path, b: str | Path) -> bool:
    """One path is the other or inside it."""
    pa, pb = Path(a), Path(b)
    return pa == pb or pa in pb.parents or pb in pa.parents


def check_volumes(spec: StackSpec, locator: Locator) -> list[Problem]:
    """Names, references, duplicates and overlapping mounts."""
    problems = []
    for name in spec.volumes:
        if not _NAME.match(name):
            message = (
                f"`{name}` is not a valid volume name: use lower-case letters, digits and '-', "
                "starting with a letter (at most 40)"
            )
            hint = "rename it, such as `data`"
            problems.append(locator.problem(("volumes", name), message, hint))
    users: dict[str, tuple[str, str | None]] = {}
    for service_name, service in spec.services.items():
        seen: dict[str, int] = {}
        mounts: list[tuple[int, str]] = []
        for i, use in enumerate(service.volumes):
            at = ("services", service_name, "volumes", i)
            if use.name not in spec.volumes:
                declared = sorted(spec.volumes)
                hint = close_match_hint(use.name, declared, "volumes")
                if not declared:
                    hint = f"declare it under the stack's `volumes:`, such as `{use.name}: {{}}`"
                message = f"`{use.name}` is not a volume of this stack"
                problems.append(locator.problem(at, message, hint, at_value=True))
                continue
            if use.name in seen:
                first = locator.problem(("services", service_name, "volumes", seen[use.name]), "")
                message = f"`{use.name}` is listed twice (first on line {first.line})"
                problems.append(locator.problem(at, message, "remove one", at_value=True))
                continue
            seen[use.name] = i
            for j, other in mounts:
                if _nested(use.mount_path, other):
                    other_name = service.volumes[j].name
                    message = (
                        f"mount {use.mount_path} overlaps {other} of volume `{other_name}`: "
                        "one would hide the other in the container"
                    )
                    hint = "give each volume its own mount path, side by side"
                    problems.append(locator.problem(at, message, hint, at_value=True))
            mounts.append((i, use.mount_path))
            owner = users.setdefault(use.name, (service_name, service.user))
            if owner[1] != service.user:
                message = (
                    f"volume `{use.name}` is also used by `{owner[0]}`, which runs as another "
                    "user: a volume belongs to one user"
                )
                hint = "run both services as the same `user:`, or give each its own volume"
                problems.append(locator.problem(at, message, hint, at_value=True))
    return problems


def volume_root(spec_path: str | None, name: str, base_dir: Path, state_dir: Path) -> Path:
    """The directory a volume lives in on this machine."""
    if spec_path is None:
        return state_dir / "volumes" / name
    return Path(posixpath.normpath(str(base_dir / spec_path)))


def check_volume_paths(
    spec: StackSpec, base_dir: Path, state_dir: Path, locator: Locator
) -> list[Problem]:
    """Volumes' directories: none inside another, none on the state directory or around
    the stack file (their owner becomes the app user, mode 0700)."""
    problems = []
    roots: list[tuple[str, Path]] = []
    for name, volume in spec.volumes.items():
        root = volume_root(volume.path, name, base_dir, state_dir)
        at = ("volumes", name, "path")
        if volume.path is not None:
            problem = _path_problem(root, base_dir, state_dir)
            if problem is not None:
                problems.append(locator.problem(at, problem[0], problem[1], at_value=True))
                continue
        for other_name, other in roots:
            if _nested(root, other):
                message = f"{root} overlaps {other}, the directory of volume `{other_name}`"
                hint = "give each volume a directory of its own, side by side"
                problems.append(locator.problem(at, message, hint, at_value=True))
        roots.append((name, root))
    return problems


def _path_problem(root: Path, base_dir: Path, state_dir: Path) -> tuple[str, str] | None:
    hint = "choose a directory beside the stack file's, such as ./data"
    if _nested(root, state_dir):
        return f"{root} overlaps the state directory {state_dir}", hint
    if root == base_dir or root in base_dir.parents:
        return f"{root} holds the stack file: it would become the app user's, mode 0700", hint
    if root in (Path("/"), *_system_dirs()):
        return f"{root} is a system directory", hint
    try:
        if root.exists() and not root.is_dir():
            return f"{root} exists and is not a directory", "remove it, or choose another path"
    except OSError as exc:
        return f"cannot use {root}: {exc.strerror or exc}", hint
    return None


_SYSTEM = "/bin /boot /dev /etc /home /lib /proc /root /run /sbin /sys /tmp /usr /var"


def _system_dirs() -> Iterable[Path]:
    return (Path(p) for p in _SYSTEM.split())
