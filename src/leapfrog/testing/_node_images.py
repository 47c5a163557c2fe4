"""Container images for the real test node, built with no registry: a busybox image and the
pod sandbox ("pause") image, both from Debian's busybox-static package, written as docker
archives that `ctr images import` loads. Cached by the package's version."""

from __future__ import annotations

import fcntl
import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from leapfrog.shared.cache import cache_dir
from leapfrog.shared.errors import LeapfrogError
from leapfrog.testing._docker_archive import write_docker_archive

__all__ = ["BUSYBOX_IMAGE", "PAUSE_IMAGE", "NodeImages", "node_images"]

BUSYBOX_IMAGE = "localhost/leapfrog-busybox:1"
PAUSE_IMAGE = "localhost/leapfrog-pause:1"
_PACKAGE = "busybox-static"
# Bumped when the images' layout changes, so cached archives are rebuilt.
_RECIPE = 1
# The user restricted pods run as (Pod Security "restricted" wants a non-root uid).
_NOBODY = 65534


@dataclass(frozen=True)
class NodeImages:
    """Docker archives of the test images, and the busybox-static version they hold."""

    version: str
    busybox: Path
    pause: Path

    @property
    def archives(self) -> tuple[Path, ...]:
        return (self.pause, self.busybox)


def node_images() -> NodeImages:
    """The archives for the busybox-static version apt would install, built when missing."""
    version = _candidate_version()
    where = cache_dir() / "node-images" / f"{version.replace(':', '_')}-r{_RECIPE}"
    images = NodeImages(version, where / "busybox.tar", where / "pause.tar")
    if images.busybox.is_file() and images.pause.is_file():
        return images
    where.mkdir(parents=True, exist_ok=True)
    with open(where / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two sessions must not write the same archive
        if not (images.busybox.is_file() and images.pause.is_file()):
            _build(where, images)
    return images


def _candidate_version() -> str:
    done = subprocess.run(
        ["apt-cache", "policy", _PACKAGE], capture_output=True, text=True, check=False
    )
    for line in done.stdout.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "Candidate" and value.strip() not in ("", "(none)"):
            return value.strip()
    raise LeapfrogError(
        f"apt knows no {_PACKAGE} package, which the real test node's images are built from",
        hint="run `apt-get update` and try again",
    )


def _build(where: Path, images: NodeImages) -> None:
    with tempfile.TemporaryDirectory(dir=where) as scratch:
        done = subprocess.run(
            ["apt-get", "download", f"{_PACKAGE}={images.version}"],
            cwd=scratch,
            capture_output=True,
            text=True,
            check=False,
        )
        debs = list(Path(scratch).glob("*.deb"))
        if done.returncode != 0 or not debs:
            raise LeapfrogError(
                f"could not download {_PACKAGE} {images.version}: {done.stderr.strip()}",
                hint="check that apt reaches Debian's mirror (`apt-get update`)",
            )
        busybox = Path(scratch) / "busybox"
        with subprocess.Popen(
            ["dpkg-deb", "--fsys-tarfile", str(debs[0])], stdout=subprocess.PIPE
        ) as dpkg:
            assert dpkg.stdout is not None
            with tarfile.open(fileobj=dpkg.stdout, mode="r|") as data:
                for member in data:
                    if member.name in ("./bin/busybox", "bin/busybox"):
                        source = data.extractfile(member)
                        assert source is not None
                        busybox.write_bytes(source.read())
        if not busybox.is_file():
            raise LeapfrogError(f"{debs[0].name} holds no bin/busybox")
        busybox.chmod(0o755)
        applets = subprocess.run(
            [str(busybox), "--list"], capture_output=True, text=True, check=True
        ).stdout.split()
        layer = _layer(busybox.read_bytes(), applets)
        _write_archive(images.busybox, BUSYBOX_IMAGE, layer, ["sh"])
        # The sandbox only holds the pod's namespaces open: a sleep that never ends does.
        _write_archive(images.pause, PAUSE_IMAGE, layer, ["sleep", "2147483647"])


def _layer(busybox: bytes, applets: list[str]) -> bytes:
    """One root filesystem layer: /bin/busybox and its applets, /etc/passwd and group with
    root and nobody, the empty mountpoints a runtime expects. Same bytes every build."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.linkname, info.size = kind, mode, link, len(data)
            info.uid = info.gid = 0
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data) if data else None)

        for directory in ("bin", "dev", "etc", "proc", "root", "sys", "tmp"):
            add(directory, tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755)
        add("bin/busybox", tarfile.REGTYPE, 0o755, busybox)
        for applet in sorted(set(applets) - {"busybox"}):
            add(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
        passwd = f"root:x:0:0:root:/root:/bin/sh\nnobody:x:{_NOBODY}:{_NOBODY}:nobody:/:/bin/sh\n"
        add("etc/passwd", tarfile.REGTYPE, 0o644, passwd.encode())
        add("etc/group", tarfile.REGTYPE, 0o644, f"root:x:0:\nnogroup:x:{_NOBODY}:\n".encode())
    return out.getvalue()


def _write_archive(path: Path, tag: str, layer: bytes, command: list[str]) -> None:
    config = {"Env": ["PATH=/bin"], "Cmd": command, "WorkingDir": "/"}
    write_docker_archive(path, tag, [layer], config, "1970-01-01T00:00:00Z")
