"""The local runtime: a supervisor running every instance as a process on this machine."""

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
from leapfrog.runtime.local.readiness import Readiness, readiness, timed_out
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
