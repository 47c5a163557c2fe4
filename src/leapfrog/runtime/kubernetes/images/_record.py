"""Which build of leapfrog's image this machine has, and under which names: the record
`leapfrog image build` writes and `leapfrog render` reads (images/built.json in the
cache, by key)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import leapfrog
from leapfrog import __version__
from leapfrog.runtime.kubernetes.images._recipe import Recipe, reference, source_digest
from leapfrog.shared.cache import cache_dir

__all__ = [
    "Built",
    "LeapfrogImage",
    "current_recipe",
    "forget_built",
    "images_dir",
    "leapfrog_image",
    "load_built",
    "project_dir",
    "save_built",
]


def project_dir() -> Path | None:
    """The source checkout leapfrog runs from (with uv.lock), or None for an install."""
    root = Path(leapfrog.__file__).resolve().parents[2]
    if (root / "uv.lock").is_file() and (root / "pyproject.toml").is_file():
        return root
    return None


def current_recipe(project: Path | None = None) -> Recipe:
    """The recipe of the image of the leapfrog that runs this code."""
    project = project or project_dir()
    package = Path(leapfrog.__file__).resolve().parent
    lock = (project / "uv.lock").read_bytes() if project else b""
    meta = (project / "pyproject.toml").read_bytes() if project else b""
    return Recipe(version=__version__, lock=lock, project=meta, source=source_digest(package))


def images_dir(cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "images"


@dataclass
class Built:
    """One build of leapfrog's image."""

    key: str
    reference: str
    """The local name: `localhost/leapfrog/leapfrog:<version>-<key>`."""
    archive: str
    """The docker-archive (`ctr images import`, `docker load`, `podman load`)."""
    size: int
    """Bytes of its layers, uncompressed."""
    builder: str
    pushed: list[str] = field(default_factory=list)
    """Where `--push` put it, the latest last."""

    @property
    def current(self) -> str:
        """The name a cluster should pull: the latest pushed one, else the local one."""
        return self.pushed[-1] if self.pushed else self.reference


def _path(cache: Path | None) -> Path:
    return images_dir(cache) / "built.json"


def load_built(cache: Path | None = None) -> dict[str, Built]:
    try:
        raw = json.loads(_path(cache).read_text())
    except (OSError, ValueError):
        return {}
    found: dict[str, Built] = {}
    for key, entry in raw.items() if isinstance(raw, dict) else ():
        try:
            found[key] = Built(**entry)
        except TypeError:
            continue
    return found


def save_built(built: Built, cache: Path | None = None) -> None:
    """Adds or replaces `built` in the record (written whole, then renamed)."""
    entries = load_built(cache)
    entries[built.key] = built
    _write(entries, cache)


def _write(entries: dict[str, Built], cache: Path | None) -> None:
    path = _path(cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps({k: asdict(v) for k, v in entries.items()}, indent=2))
    temporary.replace(path)


def forget_built(key: str, cache: Path | None = None) -> None:
    entries = load_built(cache)
    if entries.pop(key, None) is not None:
        _write(entries, cache)


@dataclass(frozen=True)
class LeapfrogImage:
    """The image `render` refers to for leapfrog's own containers."""

    reference: str
    built: bool
    """False: nothing built it here yet; `leapfrog image build` makes this very name."""


def leapfrog_image(cache: Path | None = None) -> LeapfrogImage:
    """The built image of this leapfrog (its pushed name when pushed), or the name the
    build will give it."""
    recipe = current_recipe()
    built = load_built(cache).get(recipe.key)
    if built is not None:
        return LeapfrogImage(built.current, True)
    return LeapfrogImage(reference(recipe.tag), False)
