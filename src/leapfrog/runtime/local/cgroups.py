"""A cgroup v2 per instance, when this machine lets leapfrog make one.

A process group holds what an instance starts only until one of its processes calls
setsid() or setpgid() (a daemon does, so may a program's helpers); a cgroup holds every
descendant, whatever it does, and `cgroup.kill` ends them all at once. The cgroups are
children of the supervisor's own cgroup (so stopping that, as systemd would, still
stops everything), one directory per stack and one per instance in it:
`<own cgroup>/leapfrog-<digest of the state dir>/<instance>`. No controller is enabled:
the cgroup only tracks membership.

Where no writable cgroup v2 hierarchy is mounted (cgroup v1 only, a container without
cgroup delegation, not root), or `LEAPFROG_CGROUPS=off` is set, `stack_cgroups` answers
None and instances live in their process group alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

__all__ = ["InstanceCgroup", "stack_cgroups"]

_DIR_PREFIX = "leapfrog-"


def _cgroup2_mount() -> Path | None:
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        before, _, after = line.partition(" - ")
        if after.split(" ", 1)[0] == "cgroup2":
            return Path(before.split()[4])
    return None


def _own_cgroup() -> str | None:
    """This process's cgroup v2 path ("0::/a/b" in /proc/self/cgroup)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("0::"):
            return line[3:].strip().removesuffix(" (deleted)")
    return None


def stack_cgroups(state_root: Path, record: Path) -> Path | None:
    """The directory under which this stack's instances get their cgroups, created if
    need be; None when cgroup v2 is not mounted or not writable here.

    `record` keeps the choice: a supervisor started later from another cgroup (another
    shell, another systemd unit) still finds the cgroups of the instances it adopts."""
    if os.environ.get("LEAPFROG_CGROUPS", "").lower() in ("0", "off", "no", "false"):
        return None
    with contextlib.suppress(OSError):
        kept = Path(record.read_text().strip())
        if kept.is_absolute() and (kept / "cgroup.procs").exists():
            return kept
    mount, own = _cgroup2_mount(), _own_cgroup()
    if mount is None or own is None:
        return None
    import hashlib  # loads OpenSSL: not on the way of commands that only read the state

    digest = hashlib.sha256(os.fsencode(state_root.resolve())).hexdigest()[:16]
    path = mount / own.lstrip("/") / f"{_DIR_PREFIX}{digest}"
    try:
        path.mkdir(exist_ok=True)
    except OSError:
        return None  # read-only, not delegated, not root: process groups only
    if not (path / "cgroup.procs").exists():
        return None
    with contextlib.suppress(OSError):
        record.write_text(f"{path}\n")
    return path


class InstanceCgroup:
    """The cgroup of one instance: join it before exec, list it, kill it, remove it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"InstanceCgroup({str(self.path)!r})"

    def create(self) -> bool:
        try:
            self.path.mkdir(exist_ok=True)
        except OSError:
            return False
        return True

    def open_procs(self) -> int | None:
        """A descriptor of cgroup.procs, opened now (as the supervisor) and written by the
        child before exec, after it switched to the app user: the kernel checks the
        opener's rights, so the unprivileged child can still move itself in."""
        try:
            return os.open(self.path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            return None

    def pids(self) -> list[int]:
        """Processes in this cgroup and the cgroups below it."""
        found: list[int] = []
        for procs in self.path.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                found += [int(word) for word in procs.read_text().split()]
        return found

    def exists(self) -> bool:
        return self.path.is_dir()

    def kill(self) -> None:
        """SIGKILL to every process in it, including those forked while it is killed."""
        try:
            (self.path / "cgroup.kill").write_text("1")
            return
        except FileNotFoundError:
            if not self.exists():
                return
        except OSError:
            pass
        # Kernels before 5.14 have no cgroup.kill: kill what is listed, a few times over
        # to catch what forks meanwhile.
        for _ in range(10):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self) -> bool:
        """Remove the directory once it is empty; True when it is gone."""
        # Deepest first: a program may have made cgroups of its own inside.
        inner = [p for p in self.path.rglob("*") if p.is_dir()]
        for child in sorted(inner, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                child.rmdir()
        try:
            self.path.rmdir()
        except FileNotFoundError:
            return True
        except OSError:
            return False  # busy: a process is still in it
        return True
