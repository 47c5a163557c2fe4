"""The environment an instance starts with: what it inherits from leapfrog, what
leapfrog tells it about itself, and where its dependencies are."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from leapfrog.plan import Plan, Unit
from leapfrog.shared.users import UnixUser
from leapfrog.spec import Stack

__all__ = ["INHERITED", "base_env", "dependency_endpoints", "instance_env"]

INHERITED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "HOME", "USER", "LOGNAME")


def base_env(user: UnixUser | None, data_dir: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in INHERITED if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    if user is not None:
        env.update(HOME=str(data_dir), USER=user.name, LOGNAME=user.name)
    return env


def dependency_endpoints(plan: Plan, unit: Unit, addresses: dict[str, str]) -> dict[str, str]:
    """`<DEP>_ENDPOINTS=addr:port,...` for each dependency, so services find each other
    before (and without) a service catalog."""
    env = {}
    for dep in unit.depends_on:
        if dep not in plan.units:
            continue
        dep_unit = plan.units[dep]
        port = dep_unit.service.port
        ends = [addresses[n] + (f":{port}" if port else "") for n in dep_unit.instance_names()]
        env[dep.upper().replace("-", "_") + "_ENDPOINTS"] = ",".join(ends)
    return env


def instance_env(
    stack: Stack,
    unit: Unit,
    *,
    index: int,
    name: str,
    address: str,
    data_dir: Path,
    user: UnixUser | None,
) -> dict[str, str]:
    env = base_env(user, data_dir)
    env.update(
        LEAPFROG_STACK=stack.name,
        LEAPFROG_SERVICE=unit.name,
        LEAPFROG_INSTANCE=name,
        LEAPFROG_INSTANCE_INDEX=str(index),
        LEAPFROG_DATA_DIR=str(data_dir),
        HOST=address,
        LEAPFROG_DRAIN=str(unit.service.drain_time),
        # The interpreter leapfrog runs on has the SDK: `command: ${LEAPFROG_PYTHON} app.py`.
        LEAPFROG_PYTHON=sys.executable,
    )
    if unit.service.version is not None:
        env["LEAPFROG_VERSION"] = unit.service.version
    route = unit.service.route
    if route is not None:
        # The SDK puts these in the catalog's service meta, where the load balancer's
        # templates find them (route_path, route_host, route_strip_prefix).
        if route.path is not None:
            env["LEAPFROG_ROUTE_PATH"] = route.path
        if route.host is not None:
            env["LEAPFROG_ROUTE_HOST"] = route.host
        env["LEAPFROG_ROUTE_STRIP_PREFIX"] = "true" if route.strip_prefix else "false"
    if unit.service.port is not None:
        env["PORT"] = str(unit.service.port)
    if stack.spec.identity_on:
        # The SDK serves mTLS with the catalog's leaf and checks callers' intentions.
        env["LEAPFROG_IDENTITY"] = "on"
    return env
