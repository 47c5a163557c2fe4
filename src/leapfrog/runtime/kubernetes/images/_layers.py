"""The two layers of leapfrog's image, made on this machine from package registries:
the base root file system by mmdebstrap from Debian's packages, and leapfrog's virtual
environment by uv from uv.lock. Each is a tar written whole, then renamed into the cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from leapfrog.runtime.kubernetes.images._recipe import (
    PREFIX,
    PYTHON,
    SOURCE_DATE_EPOCH,
    mmdebstrap_argv,
)
from leapfrog.runtime.kubernetes.images._run import Progress, run_streaming
from leapfrog.shared.errors import LeapfrogError

__all__ = ["build_deps_layer", "build_project_layer", "build_rootfs", "find_uv"]


def build_rootfs(
    output: Path, mirror: str | None, progress: Progress, argv: list[str] | None = None
) -> None:
    """The Debian root file system as a tar at `output` (made beside it, then renamed):
    leapfrog's base, or what `argv` (an `mmdebstrap_argv` writing to `output` +
    `.partial`) makes."""
    if shutil.which("mmdebstrap") is None:
        raise LeapfrogError(
            "mmdebstrap not found: it makes the image's base from Debian's packages",
            hint="apt-get install mmdebstrap",
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    partial.unlink(missing_ok=True)
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)}
    run_streaming(argv or mmdebstrap_argv(partial, mirror), "mmdebstrap", progress, env)
    partial.replace(output)


def find_uv() -> str:
    """uv: on PATH, or where scripts/bootstrap.sh keeps it."""
    found = shutil.which("uv")
    if found:
        return found
    cache = Path(os.environ.get("LEAPFROG_CACHE") or Path.home() / ".cache" / "leapfrog")
    for candidate in (cache / "uv" / "bin" / "uv", Path.home() / ".cache/leapfrog/uv/bin/uv"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise LeapfrogError(
        "uv not found: it installs leapfrog's Python packages from uv.lock into the image",
        hint="scripts/bootstrap.sh installs it (or: pip install uv)",
    )


def _normalized(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = min(int(info.mtime), SOURCE_DATE_EPOCH)
    return info


def _write_tar(stage: Path, output: Path) -> None:
    """`stage`'s contents as a tar of root-owned files in a fixed order."""
    partial = output.with_name(output.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(stage.rglob("*")):
            tar.add(
                path,
                arcname=path.relative_to(stage).as_posix(),
                recursive=False,
                filter=_normalized,
            )
    partial.replace(output)


def _strip(venv: Path, progress: Progress) -> None:
    """Debug sections out of the wheels' shared objects (a quarter of the layer); the
    code itself is unchanged. Skipped, with a note, where binutils is missing."""
    strip = shutil.which("strip")
    if strip is None:
        progress("strip not found (apt-get install binutils): the layer keeps debug info")
        return
    objects = sorted(str(p) for p in venv.rglob("*.so*") if p.is_file() and not p.is_symlink())
    progress(f"stripping debug info from {len(objects)} shared objects")
    for start in range(0, len(objects), 200):
        subprocess.run(
            [strip, "--strip-debug", *objects[start : start + 200]],
            check=False,
            capture_output=True,
        )


def _venv_layer(project: Path, output: Path, progress: Progress, *, dependencies: bool) -> None:
    """A relocatable virtual environment at PREFIX, as a tar at `output`: the locked
    dependencies (`dependencies`), or leapfrog alone (its wheel, built from `project`).

    The venv is made with this machine's PYTHON, the same Debian interpreter the base
    has at the same path, so the wheels uv picks are the ones the image can load."""
    if not Path(PYTHON).is_file():
        raise LeapfrogError(
            f"{PYTHON} not found: the image's virtual environment is made with the same "
            "interpreter its Debian base has",
            hint="apt-get install python3.11 (Debian 12)",
        )
    uv = find_uv()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="leapfrog-image-", dir=output.parent) as tmp:
        stage = Path(tmp) / "stage"
        venv = stage / PREFIX.lstrip("/")
        env = {
            **os.environ,
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_PROJECT_ENVIRONMENT": str(venv),
            "UV_LINK_MODE": "copy",
        }
        env.pop("VIRTUAL_ENV", None)
        run_streaming(
            [uv, "venv", "--quiet", "--relocatable", "--python", PYTHON, str(venv)],
            "uv venv",
            progress,
            env,
        )
        if dependencies:
            progress("installing leapfrog's dependencies from uv.lock")
            install = [uv, "sync", "--frozen", "--no-dev", "--no-install-project", "--inexact"]
            install += ["--quiet", "--python", PYTHON, "--project", str(project)]
        else:
            progress("building and installing leapfrog")
            install = [uv, "pip", "install", "--quiet", "--no-deps"]
            install += ["--python", str(venv / "bin" / "python"), str(project)]
        run_streaming(install, "uv", progress, env)
        if dependencies:
            _strip(venv, progress)
        progress("compiling bytecode")
        compile_argv = [PYTHON, "-m", "compileall", "-q", "-j0"]
        compile_argv += ["--invalidation-mode", "unchecked-hash"]
        compile_argv += ["-s", str(stage), "-p", "/", str(venv / "lib")]
        run_streaming(compile_argv, "compileall", progress, env)
        for leftover in (".lock", ".gitignore", "CACHEDIR.TAG"):  # uv's, not the image's
            (venv / leftover).unlink(missing_ok=True)
        progress("writing the layer")
        _write_tar(stage, output)


def build_deps_layer(project: Path, output: Path, progress: Progress) -> None:
    """leapfrog's locked dependencies (uv.lock), stripped and compiled: the layer that
    changes only with the lock file."""
    _venv_layer(project, output, progress, dependencies=True)


def build_project_layer(project: Path, output: Path, progress: Progress) -> None:
    """leapfrog itself (its wheel, its `leapfrog` script) over the dependencies' venv."""
    _venv_layer(project, output, progress, dependencies=False)
