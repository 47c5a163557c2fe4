"""Which Unix user an instance runs as, and whether that user can reach its files.

As root, services run as the stack's unprivileged app user (created if missing); the
mistakes this allows (a user that does not exist, a working directory the user cannot
enter) are found before anything starts, with the stack file's line.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from leapfrog.plan import Unit
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.users import UnixUser, UserError, blocked_at, ensure_user, lookup_user
from leapfrog.spec import Stack

__all__ = ["check_reachable", "lookup_user_by_uid", "resolve_user"]


def resolve_user(stack: Stack, unit: Unit) -> UnixUser | None:
    wanted = unit.service.user
    if os.geteuid() != 0:
        me = lookup_user_by_uid(os.geteuid())
        if wanted is not None and wanted != me:
            raise LeapfrogError(
                f"{stack.path.name}:{stack.line_of(f'services.{unit.name}.user')}: "
                f"services.{unit.name}.user is {wanted!r}, but leapfrog is not running as root "
                "and cannot switch users",
                hint="run leapfrog as root, or remove `user:` to run as yourself",
            )
        return None
    name = wanted or stack.spec.local.app_user
    try:
        return ensure_user(name) if wanted is None else _existing(name, stack, unit)
    except UserError as exc:
        raise LeapfrogError(str(exc)) from None


def lookup_user_by_uid(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _existing(name: str, stack: Stack, unit: Unit) -> UnixUser:
    found = lookup_user(name)
    if found is None:
        raise LeapfrogError(
            f"{stack.path.name}:{stack.line_of(f'services.{unit.name}.user')}: "
            f"services.{unit.name}.user: there is no user {name!r} on this machine",
            hint=f"create it (useradd --system {name}) or remove `user:` to use the app user",
        )
    return found


def check_reachable(stack: Stack, unit: str, cwd: Path, user: UnixUser) -> None:
    blocked = blocked_at(cwd, user)
    if blocked is not None:
        mode = oct(blocked.stat().st_mode & 0o777) if blocked.exists() else "missing"
        raise LeapfrogError(
            f"services.{unit} runs as user {user.name}, who cannot enter {blocked} "
            f"(mode {mode}), on the way to its working directory {cwd}",
            hint=f"let others enter it (chmod o+x {blocked}), or set `user:` for the service "
            f"({stack.path.name}:{stack.line_of(f'services.{unit}')})",
        )
