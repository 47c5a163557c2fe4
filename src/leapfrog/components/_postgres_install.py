"""Find Debian's PostgreSQL server binaries, installing them with apt when missing.

Debian keeps each major version under /usr/lib/postgresql/<major>/bin; leapfrog uses
those paths explicitly, never whatever `pg_ctl` or `postgres` is first on PATH.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from leapfrog.components._apt import apt_install
from leapfrog.components.base import Installation, Progress
from leapfrog.shared.errors import LeapfrogError

__all__ = ["LIB_ROOT", "find_server", "install_server"]

LIB_ROOT = Path("/usr/lib/postgresql")
# Read by Debian's postinst (via createcluster.conf's include_dir): without it, installing
# the package creates and starts a system cluster on port 5432 that nobody asked for.
_NO_MAIN_CLUSTER = Path("/etc/postgresql-common/createcluster.d/leapfrog.conf")


def find_server(major: int | None, root: Path = LIB_ROOT) -> Path | None:
    """The home (/usr/lib/postgresql/<major>) of the wanted or newest installed server."""
    found = sorted(
        (int(home.name), home)
        for home in root.glob("*")
        if home.name.isdigit() and (home / "bin" / "postgres").is_file()
    )
    if major is not None:
        found = [(number, home) for number, home in found if number == major]
    return found[-1][1] if found else None


def install_server(major: int | None, progress: Progress, root: Path = LIB_ROOT) -> Installation:
    home = find_server(major, root)
    if home is None:
        package = f"postgresql-{major}" if major is not None else "postgresql"
        progress(f"installing {package} from Debian's packages")
        _NO_MAIN_CLUSTER.parent.mkdir(parents=True, exist_ok=True)
        if not _NO_MAIN_CLUSTER.exists():
            _NO_MAIN_CLUSTER.write_text("create_main_cluster = false\n")
        apt_install([package], progress, "PostgreSQL")
        home = find_server(major, root)
        if home is None:
            raise LeapfrogError(
                f"{package} was installed but no server is under {root}",
                hint="check `dpkg -L " + package + "`",
            )
    bin_dir = home / "bin"
    return Installation(
        version=_version(bin_dir / "postgres"),
        home=home,
        extra={"bin": str(bin_dir), "major": home.name},
    )


def _version(postgres: Path) -> str:
    """'15.18' from 'postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)'."""
    try:
        output = subprocess.run(
            [str(postgres), "--version"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise LeapfrogError(
            f"{postgres} does not run: {exc}", hint="reinstall Debian's postgresql package"
        ) from exc
    match = re.search(r"\(PostgreSQL\)\s+(\S+)", output)
    return match.group(1) if match else output.strip()
