"""Fetch one npm package (`npm pack`) into the shared cache, once; re-runs are offline."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from leapfrog.components.base import Progress
from leapfrog.shared.errors import LeapfrogError

__all__ = ["cached_package", "fetch_package"]


def cached_package(cache_dir: Path, name: str, version: str) -> Path:
    """Where `name@version` is unpacked: <cache>/npm/<scope-name>-<version>/package."""
    folder = re.sub(r"[^A-Za-z0-9._-]+", "-", name.lstrip("@"))
    return cache_dir / "npm" / f"{folder}-{version}" / "package"


def fetch_package(cache_dir: Path, name: str, version: str, progress: Progress) -> Path:
    """The unpacked package, downloaded with `npm pack` the first time."""
    target = cached_package(cache_dir, name, version)
    if (target / "package.json").is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise LeapfrogError(
            f"{name} comes from the npm registry, and this machine has no npm",
            hint="install Node.js and npm (`apt-get install -y npm`), then re-run",
        )
    progress(f"fetching {name}@{version} from npm")
    target.parent.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent.parent, prefix=".npm-") as scratch:
        work = Path(scratch)
        result = subprocess.run(
            [npm, "pack", f"{name}@{version}", "--pack-destination", str(work), "--silent"],
            cwd=work,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work)},
            capture_output=True,
            text=True,
            check=False,
        )
        archives = list(work.glob("*.tgz"))
        if result.returncode != 0 or len(archives) != 1:
            raise LeapfrogError(
                f"npm could not fetch {name}@{version}: "
                f"{(result.stderr or result.stdout).strip()[-300:]}",
                hint="check that the npm registry is reachable (`npm view " + name + "`)",
            )
        unpacked = work / "unpacked"
        _unpack(archives[0], unpacked)
        unpacked.chmod(0o755)
        target.parent.mkdir(parents=True, exist_ok=True)
        # A rename is atomic: a concurrent or interrupted fetch never leaves half a package.
        try:
            (unpacked / "package").rename(target)
        except OSError:
            if not (target / "package.json").is_file():
                raise
    return target


def _unpack(archive_path: Path, into: Path) -> None:
    """Extract regular files and folders only, each inside `into` (this Python's tarfile
    may predate extraction filters)."""
    with tarfile.open(archive_path) as archive:
        members = archive.getmembers()
        for member in members:
            inside = (into / member.name).resolve().is_relative_to(into.resolve())
            if not inside or not (member.isfile() or member.isdir()):
                raise LeapfrogError(f"{archive_path.name}: unsafe entry {member.name!r}")
            member.mode = 0o755 if member.isdir() else 0o644
        archive.extractall(into, members=members)
