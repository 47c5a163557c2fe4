"""Install Debian packages with apt-get, non-interactively, reporting progress lines."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from leapfrog.components.base import Progress
from leapfrog.shared.errors import LeapfrogError

__all__ = ["apt_install"]

# The lines worth showing from apt-get's chatter: downloads, unpacking, configuring.
_PROGRESS_PREFIXES = ("Get:", "Unpacking ", "Setting up ")


def apt_install(packages: Sequence[str], progress: Progress, why: str) -> None:
    """apt-get install `packages`; refreshes the package lists once if that fails.

    `why` names what needs them, for error messages ("PostgreSQL").
    """
    apt_get = shutil.which("apt-get")
    wanted = " ".join(packages)
    if apt_get is None:
        raise LeapfrogError(
            f"{why} comes from Debian's packages, and this machine has no apt-get",
            hint=f"install {wanted} with your system's package manager, then re-run",
        )
    if os.geteuid() != 0:
        raise LeapfrogError(
            f"{why} is not installed, and installing it needs root",
            hint=f"run `sudo apt-get install -y {wanted}` once (or `make bootstrap` as root)",
        )
    install = [apt_get, "install", "-y", "-q", "--no-install-recommends", *packages]
    if _run(install, progress) == 0:
        return
    progress("refreshing apt package lists")
    _run([apt_get, "update", "-q"], progress)
    if _run(install, progress) != 0:
        raise LeapfrogError(
            f"apt-get could not install {wanted} (needed for {why})",
            hint=f"run `apt-get install -y {wanted}` to see why",
        )


def _run(argv: list[str], progress: Progress) -> int:
    env = {
        **os.environ,
        "DEBIAN_FRONTEND": "noninteractive",
        "APT_LISTCHANGES_FRONTEND": "none",
    }
    with subprocess.Popen(
        [*argv[:2], "-o", "Dpkg::Options::=--force-confold", *argv[2:]],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(_PROGRESS_PREFIXES):
                progress(line.strip())
    return proc.returncode
