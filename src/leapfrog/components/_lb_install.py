"""HAProxy and nginx from Debian, installed without starting Debian's own services.

Both packages' maintainer scripts start a system service listening on :80 (nginx) or
with /etc/haproxy/haproxy.cfg; leapfrog runs its own instance, so while apt runs, a
policy-rc.d that answers 101 ("action forbidden") keeps invoke-rc.d and
deb-systemd-invoke from starting anything."""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from leapfrog.components._apt import apt_install
from leapfrog.components.base import Installation, Progress
from leapfrog.shared.errors import LeapfrogError

__all__ = ["find_binary", "install_engine"]

POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
_SEARCH = "/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"


def find_binary(engine: str) -> str | None:
    return shutil.which(engine, path=_SEARCH)


@contextlib.contextmanager
def no_service_starts(policy: Path = POLICY_RC_D) -> Iterator[None]:
    """A policy-rc.d forbidding service starts, unless the machine already has one."""
    if policy.exists():
        yield
        return
    policy.write_text(
        "#!/bin/sh\n# leapfrog: no service starts while it installs packages\nexit 101\n"
    )
    policy.chmod(0o755)
    try:
        yield
    finally:
        policy.unlink(missing_ok=True)


def _version(binary: str, engine: str) -> str:
    """The engine's version, asked once per binary: the supervisor installs (checks) the
    components again at each `scale` and rollout step, and running the binary there took
    20 ms and more of a new instance's way to the load balancer. A binary replaced (an
    upgrade) has another inode or mtime, and is asked again."""
    try:
        found = Path(binary).stat()
    except OSError as exc:
        raise LeapfrogError(f"{binary} does not run: {exc}", hint=f"reinstall {engine}") from None
    return _asked_version(binary, engine, found.st_ino, found.st_mtime_ns)


@functools.cache
def _asked_version(binary: str, engine: str, inode: int, mtime_ns: int) -> str:
    flag = "-v" if engine == "haproxy" else "-V"
    try:
        done = subprocess.run(
            [binary, flag], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LeapfrogError(f"{binary} does not run: {exc}", hint=f"reinstall {engine}") from None
    match = re.search(r"(?:version|nginx/)\s*v?([\d.]+)", done.stdout + done.stderr)
    return match.group(1) if match else "unknown"


def install_engine(engine: str, progress: Progress) -> Installation:
    binary = find_binary(engine)
    if binary is None:
        progress(f"installing {engine} from Debian's packages")
        with no_service_starts():
            apt_install([engine], progress, f"the load balancer ({engine})")
        binary = find_binary(engine)
        if binary is None:
            raise LeapfrogError(
                f"{engine} was installed but is not in {_SEARCH}", hint=f"check `dpkg -L {engine}`"
            )
    return Installation(
        version=_version(binary, engine), home=Path(binary).parent, extra={"binary": binary}
    )
