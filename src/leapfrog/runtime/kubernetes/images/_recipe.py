"""The recipe of leapfrog's own image, as data: the Debian packages of its base root
file system, the Containerfile that puts the base and the Python environment together,
and the keys that name a build (what a cache entry and a tag are keyed by).

Everything here is pure: no program runs, so the keys can be computed by `render` in a
few milliseconds and tested without a builder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BASE_EXCLUDES",
    "BASE_HOOKS",
    "BASE_PACKAGES",
    "CONTAINERFILE",
    "PREFIX",
    "PYTHON",
    "REPOSITORY",
    "SUITE",
    "UID",
    "Recipe",
    "base_key",
    "mmdebstrap_argv",
    "reference",
    "source_digest",
]

BASE_VERSION = 1
"""Bumped when the base's recipe changes in a way the texts below do not show."""

VENV_VERSION = 3
"""Bumped when the way the venv layers are made changes (uv's options, strip)."""

SUITE = "bookworm"
"""Debian release of the base: its python3.11 is the interpreter the venv is made for."""

PYTHON = "/usr/bin/python3.11"
"""The interpreter, at the same path on the build machine and in the image."""

UID = 10001
"""The image's user: numeric, non-root, as Pod Security `restricted` wants."""

PREFIX = "/opt/leapfrog"
"""Where leapfrog's virtual environment lives in the image."""

REPOSITORY = "localhost/leapfrog/leapfrog"
"""The local name of leapfrog's image: `localhost/` keeps it from resolving to a
registry, so a node that imported the archive finds it under the same name."""

BASE_PACKAGES = (
    # What dpkg itself needs to unpack and configure the rest.
    "base-files",
    "base-passwd",
    "dash",
    "coreutils",
    "diffutils",
    "findutils",
    "grep",
    "sed",
    "mawk",
    "tar",
    "libc-bin",
    "dpkg",
    # Python: the interpreter and its standard library (ssl, sqlite3, ctypes, ...).
    "python3.11-minimal",
    "libpython3.11-stdlib",
    # /etc/services and /etc/protocols for getservbyname.
    "netbase",
)
"""The `custom` variant of mmdebstrap installs exactly these and their dependencies:
no apt, no perl, no shells beyond dash. TLS roots come from the certifi wheel."""

_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/share/lintian/*",
    "/usr/lib/x86_64-linux-gnu/gconv/*",
)
"""dpkg's path-exclude: documentation, translations and glibc's iconv modules (Python's
codecs are its own)."""

_CUSTOMIZE = (
    # The image's user and group, with /tmp as home (the root file system is read-only).
    f'echo "leapfrog:x:{UID}:{UID}:leapfrog:/tmp:/usr/sbin/nologin" >> "$1/etc/passwd"',
    f'echo "leapfrog:x:{UID}:" >> "$1/etc/group"',
    # What changes from run to run without meaning anything.
    'rm -rf "$1/var/cache/debconf"/*-old "$1/var/lib/dpkg"/*-old "$1/var/log"/*',
)

BASE_EXCLUDES = _EXCLUDES
"""The base's path-excludes, for a recipe that needs to change them."""

BASE_HOOKS = _CUSTOMIZE
"""The base's customize hooks, for a recipe that adds its own to them."""

SOURCE_DATE_EPOCH = 1735689600
"""2025-01-01: every file's time in both layers, so equal inputs give equal layers."""

CONTAINERFILE = f"""\
# leapfrog's own image: written by `leapfrog image build`, built with buildah, podman or
# docker. No registry image: rootfs.tar is a Debian root file system made by mmdebstrap
# from Debian's packages; deps.tar leapfrog's dependencies from uv.lock in a virtual
# environment, app.tar leapfrog itself in the same one (a layer each: what changes
# least first, so a node pulls only what changed).
FROM scratch
LABEL org.opencontainers.image.title=leapfrog \\
      org.opencontainers.image.source=leapfrog
ADD rootfs.tar /
ADD deps.tar /
ADD app.tar /
ENV PATH={PREFIX}/bin:/usr/local/bin:/usr/bin:/bin \\
    LANG=C.UTF-8 \\
    HOME=/tmp \\
    PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1
USER {UID}:{UID}
WORKDIR /tmp
ENTRYPOINT ["leapfrog"]
"""


def mmdebstrap_argv(
    output: Path,
    mirror: str | None = None,
    *,
    packages: Iterable[str] | None = None,
    hooks: Iterable[str] | None = None,
    variant: str = "custom",
    excludes: Iterable[str] | None = None,
) -> list[str]:
    """The command that makes the base root file system as a tar at `output`.

    `mirror` is a Debian mirror's URL (an air-gapped machine's own); without it,
    mmdebstrap uses deb.debian.org. `packages` and `hooks` (shell run with the root
    file system's path as $1) are leapfrog's base's unless another image's recipe
    (the test node's program images) names its own; `variant` is mmdebstrap's (`custom`:
    exactly `packages`; `essential`: Debian's Essential set too, for packages whose
    maintainer scripts need perl or debconf); `excludes` dpkg's path-excludes."""
    argv = [
        "mmdebstrap",
        f"--variant={variant}",
        "--mode=auto",
        "--format=tar",
        "--include=" + ",".join(BASE_PACKAGES if packages is None else packages),
    ]
    argv += [f"--dpkgopt=path-exclude={path}" for path in excludes or _EXCLUDES]
    argv += [f"--customize-hook={hook}" for hook in (_CUSTOMIZE if hooks is None else hooks)]
    argv += [SUITE, str(output)]
    if mirror:
        argv.append(mirror)
    return argv


def _digest(parts: Iterable[bytes]) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "big"))
        sha.update(part)
    return sha.hexdigest()


def base_key(
    *,
    packages: Iterable[str] | None = None,
    hooks: Iterable[str] | None = None,
    variant: str = "custom",
    excludes: Iterable[str] | None = None,
) -> str:
    """The base's key: its packages, excludes, hooks and release (not the mirror: the
    same packages come from any mirror)."""
    recipe = json.dumps(
        {
            "version": BASE_VERSION,
            "suite": SUITE,
            "packages": list(BASE_PACKAGES if packages is None else packages),
            "excludes": list(excludes or _EXCLUDES),
            "hooks": list(_CUSTOMIZE if hooks is None else hooks),
            **({} if variant == "custom" else {"variant": variant}),
            "epoch": SOURCE_DATE_EPOCH,
        },
        sort_keys=True,
    )
    return _digest([recipe.encode()])


def source_digest(package_dir: Path) -> str:
    """leapfrog's own files as they go into the image (compiled bytecode aside)."""
    files = sorted(
        p
        for p in package_dir.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    parts: list[bytes] = []
    for path in files:
        parts.append(path.relative_to(package_dir).as_posix().encode())
        parts.append(path.read_bytes())
    return _digest(parts)


@dataclass(frozen=True)
class Recipe:
    """What one build of leapfrog's image is made of."""

    version: str
    """leapfrog's version: the tag's first half."""
    lock: bytes
    """uv.lock: the Python dependencies, pinned."""
    project: bytes
    """pyproject.toml: the project's metadata and entry points."""
    source: str
    """`source_digest` of the leapfrog package."""

    @property
    def deps_key(self) -> str:
        """The dependencies' layer: the lock file, the project, the interpreter."""
        made = json.dumps({"version": VENV_VERSION, "python": PYTHON, "prefix": PREFIX})
        return _digest([made.encode(), self.lock, self.project])

    @property
    def key(self) -> str:
        """The whole image: base, dependencies, sources and the Containerfile."""
        return _digest(
            [
                base_key().encode(),
                self.deps_key.encode(),
                self.source.encode(),
                CONTAINERFILE.encode(),
            ]
        )

    @property
    def tag(self) -> str:
        return f"{self.version}-{self.key[:12]}"


def reference(tag: str, registry: str | None = None) -> str:
    """The image's name with `tag`: local, or under `registry` once pushed there."""
    if registry:
        return f"{registry.rstrip('/')}/leapfrog:{tag}"
    return f"{REPOSITORY}:{tag}"
