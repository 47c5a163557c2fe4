"""The unprivileged app user services run as when leapfrog itself runs as root."""

from __future__ import annotations

import grp
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["UnixUser", "UserError", "blocked_at", "ensure_user", "lookup_user"]


class UserError(Exception):
    """The user cannot be found or created; the message says what to do."""


@dataclass(frozen=True)
class UnixUser:
    name: str
    uid: int
    gid: int
    home: str


def lookup_user(name: str) -> UnixUser | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return UnixUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def ensure_user(name: str) -> UnixUser:
    """Look the user up, creating it as a system user without login shell if missing."""
    found = lookup_user(name)
    if found is not None:
        return found
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    created = lookup_user(name)
    if created is None:
        raise UserError(
            f"cannot create the app user {name!r}: {result.stderr.strip() or 'useradd failed'}; "
            f"create it yourself (useradd --system {name}) or set local.app_user"
        )
    return created


def blocked_at(path: Path, user: UnixUser) -> Path | None:
    """The first directory on the way to `path` that `user` may not enter, if any.

    Checked from the mode bits, since the supervisor runs as root and os.access would
    answer for root.
    """
    groups = {user.gid} | {g.gr_gid for g in grp.getgrall() if user.name in g.gr_mem}
    current = Path("/")
    for part in path.resolve().parts[1:]:
        current = current / part
        try:
            info = current.stat()
        except OSError:
            return current
        if not stat.S_ISDIR(info.st_mode):
            break
        if info.st_uid == user.uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return current
    return None
