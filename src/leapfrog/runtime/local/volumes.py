"""Named volumes on this machine: a directory per instance or one shared, owned by the
service's user with mode 0700, kept across restarts, `down`/`up` and rolling replacement.

A size limit is an ext4 file system of that size in an image file under the state
directory, loop-mounted on the volume's directory; that takes root (mkfs, mount). Without
root the directory is used unlimited and every listing says so. Mounts live while the
stack is up: `down` unmounts them, the next start mounts them again, and the data stays
in the image.

`<state>/volumes.json` records every volume a stack file declared (its directory, scope,
size, enforcement), so `leapfrog volume ls|rm` know about volumes the stack file no
longer names: their data is never deleted except by `leapfrog volume rm`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leapfrog.runtime.local.paths import StatePaths
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.files import atomic_write_json, exclusive_lock, read_json
from leapfrog.shared.users import UnixUser, blocked_at
from leapfrog.spec import Stack
from leapfrog.spec._volumes import volume_env_name, volume_root

__all__ = [
    "InstanceVolume",
    "VolumeError",
    "VolumeInfo",
    "enforcement",
    "instance_volumes",
    "list_volumes",
    "prepare_volume",
    "record_volumes",
    "remove_volumes",
    "unmount_all",
]

_MKFS = "mkfs.ext4"
_SHARED_IMAGE = "shared.img"
"""Instance names are <service>-<n>: `shared` is none of them."""
_TOOL_TIMEOUT = 120.0


class VolumeError(LeapfrogError):
    """A volume could not be made, mounted or removed."""


@dataclass(frozen=True)
class InstanceVolume:
    """One volume as one instance sees it."""

    name: str
    scope: str
    root: Path
    """The volume's directory: the data itself when shared, a directory per instance inside."""
    directory: Path
    """This instance's directory, handed to it as LEAPFROG_VOLUME_<NAME>."""
    size: int | None
    image: Path | None
    """The ext4 image enforcing `size`, loop-mounted on `directory`; None: not enforced."""

    @property
    def env_name(self) -> str:
        return volume_env_name(self.name)


def enforcement() -> str | None:
    """Why a size limit cannot be enforced on this machine, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (an ext4 image loop-mounted per volume)"
    missing = [tool for tool in (_MKFS, "mount", "umount") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found (e2fsprogs, mount)"
    return None


def _images(paths: StatePaths, name: str) -> Path:
    return paths.root / "volume-images" / name


def _registry(paths: StatePaths) -> Path:
    return paths.root / "volumes.json"


def instance_volumes(
    stack: Stack, service: str, instance: str, paths: StatePaths
) -> tuple[InstanceVolume, ...]:
    """The volumes `instance` of `service` uses, in the order the stack file lists them."""
    spec = stack.spec
    enforced = enforcement() is None
    found = []
    for use in spec.services[service].volumes:
        volume = spec.volumes[use.name]
        root = volume_root(volume.path, use.name, stack.base_dir, stack.state_dir)
        shared = volume.scope == "shared"
        directory = root if shared else root / instance
        image = None
        if volume.size is not None and enforced:
            image = _images(paths, use.name) / (_SHARED_IMAGE if shared else f"{instance}.img")
        found.append(InstanceVolume(use.name, volume.scope, root, directory, volume.size, image))
    return tuple(found)


def check_reachable(stack: Stack, volume: InstanceVolume, user: UnixUser) -> None:
    """A volume at a path of the user's choosing must be reachable by the app user (the
    directories leapfrog makes on the way are: mode 0755)."""
    parent = volume.root.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    blocked = blocked_at(parent, user)
    if blocked is not None:
        where = f"volumes.{volume.name}.path"
        raise LeapfrogError(
            f"{stack.path.name}:{stack.line_of(where)}: {where}: {user.name} cannot enter "
            f"{blocked}, on the way to {volume.root}",
            hint=f"let others enter it (chmod o+x {blocked}), or choose another path",
        )


def prepare_volume(volume: InstanceVolume, user: UnixUser | None) -> None:
    """Make the instance's directory (and its file system when the size is enforced),
    owned by `user` (None: this process's user), mode 0700. Idempotent; runs before
    every start of the instance."""
    try:
        _own(volume.root, user)
        if volume.directory != volume.root:
            _own(volume.directory, user)
        if volume.image is not None and not os.path.ismount(volume.directory):
            _mount(volume, user)
            _own(volume.directory, user)
    except OSError as exc:
        raise VolumeError(
            f"volume {volume.name}: cannot prepare {volume.directory}: {exc.strerror or exc}"
        ) from None


def _own(directory: Path, user: UnixUser | None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if user is not None:
        os.chown(directory, user.uid, user.gid)
    directory.chmod(0o700)


def _mount(volume: InstanceVolume, user: UnixUser | None) -> None:
    image = volume.image
    assert image is not None and volume.size is not None
    image.parent.mkdir(parents=True, exist_ok=True)
    image.parent.parent.chmod(0o700)
    fresh = not image.exists()
    if fresh:
        with open(image, "wb") as handle:
            handle.truncate(volume.size)  # sparse: the disk is used as data is written
        image.chmod(0o600)
        owner = f"{user.uid}:{user.gid}" if user else f"{os.geteuid()}:{os.getegid()}"
        # -m 0: no blocks reserved for root (the app user would never get them).
        _tool(
            [_MKFS, "-q", "-F", "-m", "0", "-L", volume.name[:16], "-E",
             f"root_owner={owner}", str(image)],
            volume,
        )  # fmt: skip
    elif image.stat().st_size < volume.size:
        # A larger size in the stack file grows the file system (data kept); a smaller
        # one keeps the current size: shrinking could not keep the data.
        with open(image, "r+b") as handle:
            handle.truncate(volume.size)
        _tool(["e2fsck", "-f", "-p", str(image)], volume, ok=(0, 1))
        _tool(["resize2fs", str(image)], volume)
    if any(volume.directory.iterdir()):
        raise VolumeError(
            f"volume {volume.name}: {volume.directory} is not empty and not mounted: a size "
            "limit mounts a file system there, which would hide these files",
            hint="move the files away (or remove `size:`), then start again",
        )
    _tool(["mount", "-o", "loop,nosuid,nodev", str(image), str(volume.directory)], volume)
    if fresh:
        with contextlib.suppress(OSError):  # mkfs's, empty; e2fsck makes one when needed
            (volume.directory / "lost+found").rmdir()


def _tool(argv: list[str], volume: InstanceVolume, ok: tuple[int, ...] = (0,)) -> None:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=_TOOL_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VolumeError(f"volume {volume.name}: {argv[0]} failed: {exc}") from None
    if done.returncode not in ok:
        words = (done.stderr or done.stdout).strip().splitlines()
        raise VolumeError(
            f"volume {volume.name}: `{' '.join(argv[:1])}` failed "
            f"(status {done.returncode}): {words[-1] if words else 'no message'}"
        )


def record_volumes(stack: Stack, paths: StatePaths) -> list[str]:
    """Write what the stack file declares into the registry (keeping volumes it no longer
    names); returns a note per size limit this machine cannot enforce."""
    why = enforcement()
    notes = []
    with exclusive_lock(paths.root / "volumes.lock"):
        known: dict[str, Any] = read_json(_registry(paths)) or {}
        for name, volume in stack.spec.volumes.items():
            services = stack.spec.services.items()
            users = [s for s, svc in services if any(u.name == name for u in svc.volumes)]
            root = volume_root(volume.path, name, stack.base_dir, stack.state_dir)
            known[name] = {
                "scope": volume.scope,
                "root": str(root),
                "size": volume.size,
                "enforced": volume.size is not None and why is None,
                "not_enforced": why if volume.size is not None else None,
                "services": users,
                "declared": True,
            }
            if volume.size is not None and why is not None:
                notes.append(f"volume {name}: the size limit is not enforced: {why}")
        for name, entry in known.items():
            if name not in stack.spec.volumes:
                entry.update(declared=False, services=[])  # kept, used by nothing
        atomic_write_json(_registry(paths), known, mode=0o600)
    return notes


@dataclass(frozen=True)
class VolumeInfo:
    name: str
    scope: str
    root: str
    services: list[str]
    size: int | None
    enforced: bool
    not_enforced: str | None
    declared: bool
    directories: dict[str, int]
    """Each directory (an instance's, or `shared`) and the bytes it holds."""
    mounted: list[str]
    in_use_by: list[str]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_volumes(paths: StatePaths, running: Iterable[str] = ()) -> list[VolumeInfo]:
    """Every volume recorded for this state directory; `running`: names of the instances
    that run now (a volume is in use by those of its services)."""
    known: dict[str, Any] = read_json(_registry(paths)) or {}
    live = set(running)
    mounts = _mount_points()
    found = []
    for name, entry in sorted(known.items()):
        root = Path(entry["root"])
        dirs: dict[str, Path] = {}
        if entry["scope"] == "shared":
            if root.is_dir():
                dirs["shared"] = root
        elif root.is_dir():
            with contextlib.suppress(OSError):
                dirs = {p.name: p for p in sorted(root.iterdir()) if p.is_dir()}
        users = [i for i in sorted(live) if i.rpartition("-")[0] in entry["services"]]
        found.append(
            VolumeInfo(
                name=name,
                scope=entry["scope"],
                root=str(root),
                services=list(entry["services"]),
                size=entry["size"],
                enforced=bool(entry["enforced"]),
                not_enforced=entry.get("not_enforced"),
                declared=bool(entry.get("declared", True)),
                directories={
                    k: _used(p, p in mounts, _images(paths, name) / f"{k}.img")
                    for k, p in dirs.items()
                },
                mounted=sorted(k for k, p in dirs.items() if p in mounts),
                in_use_by=users,
            )
        )
    return found


def _used(path: Path, mounted: bool, image: Path) -> int:
    """Bytes held: the file system's own count when mounted, its image's disk use when not
    (the stack is down), else a walk of the files."""
    if mounted:
        info = os.statvfs(path)
        return (info.f_blocks - info.f_bfree) * info.f_frsize
    with contextlib.suppress(OSError):
        return image.stat().st_blocks * 512
    total = 0
    for folder, _, files in os.walk(path):
        for file in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, file)).st_blocks * 512
    return total


def _mount_points() -> set[Path]:
    found = set()
    with contextlib.suppress(OSError), open("/proc/self/mountinfo", encoding="utf-8") as info:
        for line in info:
            fields = line.split()
            if len(fields) > 4:
                found.add(Path(_unescape(fields[4])))
    return found


def _unescape(text: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        text = text.replace(code, char)
    return text


def _mounted_under(roots: Iterable[Path]) -> list[Path]:
    wanted = list(roots)
    return sorted(
        (m for m in _mount_points() if any(m == r or r in m.parents for r in wanted)),
        key=lambda p: len(p.parts),
        reverse=True,
    )


def unmount_all(paths: StatePaths) -> list[str]:
    """Unmount every volume file system of this stack (its images keep the data);
    returns what stays mounted, with why."""
    known: Mapping[str, Any] = read_json(_registry(paths)) or {}
    failed = []
    for point in _mounted_under(Path(e["root"]) for e in known.values()):
        done = subprocess.run(
            ["umount", str(point)], capture_output=True, text=True, check=False, timeout=60
        )
        if done.returncode != 0:
            failed.append(f"{point}: {done.stderr.strip() or 'umount failed'}")
    return failed


def remove_volumes(paths: StatePaths, names: list[str], running: Iterable[str]) -> list[str]:
    """Delete volumes with their data; refuses (removing none) when one is unknown or in
    use by a running instance. Returns the names removed."""
    infos = {v.name: v for v in list_volumes(paths, running)}
    unknown = [n for n in names if n not in infos]
    if unknown:
        known = ", ".join(sorted(infos)) or "none"
        raise VolumeError(
            f"no volume {', '.join(unknown)} in {paths.root}",
            hint=f"volumes here: {known} (`leapfrog volume ls`)",
        )
    busy = {n: infos[n].in_use_by for n in names if infos[n].in_use_by}
    if busy:
        words = "; ".join(f"{n} by {', '.join(users)}" for n, users in busy.items())
        raise VolumeError(
            f"cannot remove a volume in use: {words}",
            hint="stop the stack (`leapfrog down`) or the services that use it first",
        )
    with exclusive_lock(paths.root / "volumes.lock"):
        recorded: dict[str, Any] = read_json(_registry(paths)) or {}
        for name in names:
            root = Path(infos[name].root)
            for point in _mounted_under([root]):
                done = subprocess.run(
                    ["umount", str(point)], capture_output=True, text=True, check=False, timeout=60
                )
                if done.returncode != 0:
                    raise VolumeError(
                        f"volume {name}: cannot unmount {point}: {done.stderr.strip()}",
                        hint="see which process holds it open (fuser -vm PATH)",
                    )
            try:
                if root.exists():
                    shutil.rmtree(root)
                shutil.rmtree(_images(paths, name), ignore_errors=True)
            except OSError as exc:
                raise VolumeError(
                    f"volume {name}: cannot delete {root}: {exc.strerror or exc}"
                ) from None
            recorded.pop(name, None)
        atomic_write_json(_registry(paths), recorded, mode=0o600)
    return names
