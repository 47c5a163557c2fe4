"""The local runtime: a supervisor running every instance as a process on this machine.

Its names load on first use (PEP 562): `leapfrog status` needs the state dir's layout
and the control socket, not the supervisor, the components and asyncio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# Eager: the function `readiness` has its module's name, which importing that module
# (anyone may) would bind here instead, were it loaded lazily. The module is small.
from leapfrog.runtime.local.readiness import Readiness, readiness, timed_out
from leapfrog.shared.lazy import lazy_names

if TYPE_CHECKING:
    from leapfrog.runtime.local.commands import (
        Prepared,
        apply,
        down,
        prepare,
        restart,
        run_foreground,
        running,
        secrets,
        start_detached,
        status,
        watch,
    )
    from leapfrog.runtime.local.instance import InstanceState
    from leapfrog.runtime.local.paths import StatePaths
    from leapfrog.runtime.local.platform import Installer, quiet_installer
    from leapfrog.runtime.local.recovery import Leftover
    from leapfrog.runtime.local.supervisor import Supervisor

__all__ = [
    "Installer",
    "InstanceState",
    "Leftover",
    "Prepared",
    "Readiness",
    "StatePaths",
    "Supervisor",
    "apply",
    "down",
    "prepare",
    "quiet_installer",
    "readiness",
    "restart",
    "run_foreground",
    "running",
    "secrets",
    "start_detached",
    "status",
    "timed_out",
    "watch",
]

_HOMES = {
    **dict.fromkeys(
        (
            "Prepared",
            "apply",
            "down",
            "prepare",
            "restart",
            "run_foreground",
            "running",
            "secrets",
            "start_detached",
            "status",
            "watch",
        ),
        "commands",
    ),
    "InstanceState": "instance",
    "StatePaths": "paths",
    "Installer": "platform",
    "quiet_installer": "platform",
    "Leftover": "recovery",
    "Supervisor": "supervisor",
}


__getattr__ = lazy_names(__name__, _HOMES, globals())
