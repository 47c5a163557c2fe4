"""Building the platform programs' images for the real test node (`_program_recipes`):
the Debian root file system by mmdebstrap (cached by its packages and hooks, so Kafka and
ZooKeeper share one), a layer of leapfrog's cached jars, binaries and launchers written
in Python, both put together as a docker archive (`ctr images import` loads it; no
builder, no registry). Cached by the recipe's key under `<cache>/images/programs/`."""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from leapfrog.components import component
from leapfrog.runtime.kubernetes.images._layers import build_rootfs
from leapfrog.runtime.kubernetes.images._recipe import (
    SOURCE_DATE_EPOCH,
    base_key,
    mmdebstrap_argv,
)
from leapfrog.shared.cache import cache_dir
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.files import exclusive_lock
from leapfrog.testing._consul_tools import consul_tool
from leapfrog.testing._docker_archive import write_docker_archive
from leapfrog.testing._program_recipes import RECIPES, ProgramRecipe, with_users

__all__ = ["ProgramImage", "program_image", "program_images"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ProgramImage:
    part: str
    reference: str
    archive: Path
    size: int
    """Bytes of the archive (its two layers, uncompressed)."""
    cached: bool
    seconds: float


def _root() -> Path:
    return cache_dir() / "images" / "programs"


def program_images(
    parts: Iterable[str], progress: Progress = lambda _line: None
) -> dict[str, ProgramImage]:
    """The images of `parts` (keys of `RECIPES`), built when the cache lacks them."""
    return {part: program_image(part, progress) for part in parts}


def program_image(part: str, progress: Progress = lambda _line: None) -> ProgramImage:
    """`part`'s image from the cache, or built: the first time a minute or two (mmdebstrap
    downloads Debian's packages), then well under a second."""
    recipe = RECIPES.get(part)
    if recipe is None:
        raise LeapfrogError(
            f"no test image recipe for {part!r}", hint=f"one of {', '.join(sorted(RECIPES))}"
        )
    began = time.monotonic()
    files = _inputs(recipe, progress)
    key = recipe.key({path: identity for path, (_, identity) in files.items()})
    root = _root()
    root.mkdir(parents=True, exist_ok=True)
    archive = root / f"{part}-{key[:16]}" / f"{part}.tar"
    cached = archive.is_file()
    if not cached:
        with exclusive_lock(root / "build.lock"):  # two sessions must not write one archive
            if not archive.is_file():
                _build(recipe, key, files, archive, progress)
    return ProgramImage(
        part,
        recipe.reference(key),
        archive,
        archive.stat().st_size,
        cached,
        time.monotonic() - began,
    )


def _inputs(recipe: ProgramRecipe, progress: Progress) -> dict[str, tuple[Path, str]]:
    """Path in the image -> (the cached file, what identifies it in the key)."""
    files: dict[str, tuple[Path, str]] = {}
    if recipe.jars:
        program = component(recipe.jars)
        options = program.options_model()
        installation = program.install(options, cache_dir(), progress)
        listed = Path(installation.extra["argfile"]).with_name("classpath.txt")
        jars = [Path(line) for line in listed.read_text().splitlines() if line.strip()]
        names = [jar.name for jar in jars]
        if len(set(names)) != len(names):
            raise LeapfrogError(f"{recipe.jars}'s classpath has two jars of one name")
        for jar in jars:
            files[f"/opt/{recipe.part}/libs/{jar.name}"] = (jar, jar.name)
    for target, tool in recipe.binaries.items():
        path = consul_tool(tool)
        files[target] = (path, _sha256(path))
    return files


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def _rootfs_path(recipe: ProgramRecipe) -> Path:
    """Where the recipe's root file system is cached: by its packages, hooks, variant and
    excludes, so recipes that agree on them (Kafka and ZooKeeper) share one."""
    key = base_key(
        packages=recipe.rootfs_packages,
        hooks=recipe.rootfs_hooks,
        variant=recipe.variant,
        excludes=recipe.rootfs_excludes,
    )
    return _root() / f"rootfs-{key[:16]}" / "rootfs.tar"


def _rootfs(recipe: ProgramRecipe, progress: Progress) -> Path:
    rootfs = _rootfs_path(recipe)
    if not rootfs.is_file():
        progress(f"making {recipe.part}'s Debian root file system with mmdebstrap")
        rootfs.parent.mkdir(parents=True, exist_ok=True)
        partial = rootfs.with_name(rootfs.name + ".partial")
        argv = mmdebstrap_argv(
            partial,
            None,
            packages=recipe.rootfs_packages,
            hooks=recipe.rootfs_hooks,
            variant=recipe.variant,
            excludes=recipe.rootfs_excludes,
        )
        build_rootfs(rootfs, None, progress, argv)
    return rootfs


def _build(
    recipe: ProgramRecipe,
    key: str,
    files: dict[str, tuple[Path, str]],
    archive: Path,
    progress: Progress,
) -> None:
    rootfs = _rootfs(recipe, progress)
    archive.parent.mkdir(parents=True, exist_ok=True)
    layer = archive.with_name("program.tar")
    progress(f"writing {recipe.part}'s program layer")
    _program_layer(recipe, files, layer, _accounts(rootfs))
    progress(f"writing {archive}")
    _write_archive(recipe, recipe.reference(key), [rootfs, layer], archive)
    layer.unlink()
    # Only the newest image of each part stays (a new Kafka, a changed recipe), and the
    # root file systems the current recipes use.
    for old in _root().glob(f"{recipe.part}-*"):
        if old != archive.parent:
            shutil.rmtree(old, ignore_errors=True)
    current = {_rootfs_path(r).parent for r in RECIPES.values()}
    for old in _root().glob("rootfs-*"):
        if old not in current:
            shutil.rmtree(old, ignore_errors=True)


def _accounts(rootfs: Path) -> tuple[str, str]:
    """/etc/passwd and /etc/group of a root file system's tar."""
    found: dict[str, str] = {}
    with tarfile.open(rootfs) as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if name in ("etc/passwd", "etc/group") and member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                found[name] = handle.read().decode()
            if len(found) == 2:
                break
    return found.get("etc/passwd", ""), found.get("etc/group", "")


def _program_layer(
    recipe: ProgramRecipe,
    files: dict[str, tuple[Path, str]],
    output: Path,
    accounts: tuple[str, str],
) -> None:
    """The program's files, and the accounts its pods run as, as a tar of root-owned
    entries in a fixed order."""
    entries: dict[str, tuple[int, bytes | Path | None]] = {}
    passwd, group = with_users(*accounts, recipe.users)
    entries["/etc/passwd"] = (0o644, passwd.encode())
    entries["/etc/group"] = (0o644, group.encode())
    for target, script in recipe.scripts.items():
        entries[target] = (script.mode, script.text.encode())
    for target, (path, _) in files.items():
        entries[target] = (0o755 if path.stat().st_mode & 0o111 else 0o644, path)
    jars = [t for t in files if t.startswith(f"/opt/{recipe.part}/libs/")]
    if jars:
        argfile = "-cp " + ":".join(jars) + "\n"
        entries[f"/opt/{recipe.part}/classpath.args"] = (0o644, argfile.encode())
    for name in recipe.npm:
        entries[f"/usr/share/leapfrog/npm/{name}.tgz"] = (0o644, _npm_tgz(name))
    directories = {str(parent) for t in entries for parent in Path(t).parents}
    directories.discard("/")
    partial = output.with_name(output.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        for directory in sorted(directories):
            _add(tar, directory, tarfile.DIRTYPE, 0o755, None)
        for target in sorted(entries):
            mode, content = entries[target]
            _add(tar, target, tarfile.REGTYPE, mode, content)
    partial.replace(output)


def _add(
    tar: tarfile.TarFile, name: str, kind: bytes, mode: int, content: bytes | Path | None
) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type, info.mode, info.mtime = kind, mode, SOURCE_DATE_EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if isinstance(content, bytes):
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    elif isinstance(content, Path):
        info.size = content.stat().st_size
        with content.open("rb") as handle:
            tar.addfile(info, handle)
    else:
        tar.addfile(info)


def _npm_tgz(name: str) -> bytes:
    """The npm package leapfrog's cache holds unpacked (`<cache>/npm/<name>/package`),
    packed as npm packs it: a gzipped tar of `package/`."""
    folder = cache_dir() / "npm" / name
    if not (folder / "package").is_dir():
        raise LeapfrogError(
            f"{folder}/package is missing: the test node's `node` image packs it",
            hint="run a stack with postgres `message_db: true` once (`make demo`) to fetch it",
        )
    out = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=out, mode="wb", mtime=SOURCE_DATE_EPOCH) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in sorted((folder / "package").rglob("*")):
            arcname = path.relative_to(folder).as_posix()
            kind = tarfile.DIRTYPE if path.is_dir() else tarfile.REGTYPE
            _add(tar, arcname, kind, 0o755 if path.is_dir() else 0o644,
                 None if path.is_dir() else path)  # fmt: skip
    return out.getvalue()


def _write_archive(recipe: ProgramRecipe, tag: str, layers: list[Path], path: Path) -> None:
    """A `docker save` archive of `layers` (uncompressed tars) with the recipe's config."""
    config: dict[str, object] = {
        "Env": [f"{k}={v}" for k, v in sorted(recipe.env.items())],
        "User": recipe.user,
        "WorkingDir": "/tmp",
    }
    if recipe.entrypoint:
        config["Entrypoint"] = list(recipe.entrypoint)
    if recipe.cmd:
        config["Cmd"] = list(recipe.cmd)
    write_docker_archive(path, tag, layers, config, "2025-01-01T00:00:00Z")
