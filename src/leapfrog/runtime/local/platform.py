"""The platform's own units in a local stack: the catalog and the components.

Services run what the stack file says; for these two kinds leapfrog decides what runs:
the catalog is leapfrog's own `catalog serve`, a component is whatever its module's
`process` says. Both hand their connection details to the services' environment.
"""

from __future__ import annotations

import secrets
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leapfrog.components import component
from leapfrog.components.base import Component, Installation, Instance, Process, Progress
from leapfrog.plan import Plan, Unit
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.shared.cache import cache_dir
from leapfrog.shared.files import atomic_write_text
from leapfrog.shared.users import UnixUser
from leapfrog.spec import CatalogSettings

__all__ = [
    "ComponentRun",
    "Installer",
    "catalog_argv",
    "catalog_env",
    "component_run",
    "ensure_catalog_token",
    "install_all",
    "quiet_installer",
]

Installer = Callable[[str, Component[Any], Any], Installation]
"""install(kind, component, options): run each component's install step."""


@dataclass(frozen=True)
class ComponentRun:
    """What the supervisor needs to run, probe and set up one component instance."""

    component: Component[Any]
    options: Any
    where: Instance
    process: Process
    version: str


def quiet_installer(progress: Progress | None = None) -> Installer:
    def install(kind: str, comp: Component[Any], options: Any) -> Installation:
        return comp.install(options, cache_dir(), progress or (lambda _line: None))

    return install


def install_all(plan: Plan, installer: Installer) -> dict[str, Installation]:
    """Each component's install (idempotent, fast from cache), before anything starts."""
    result = {}
    for unit in plan.units.values():
        if unit.kind == "component":
            comp = component(unit.name)
            result[unit.name] = installer(unit.name, comp, comp.options(unit.options))
    return result


def component_run(
    unit: Unit,
    *,
    instance: str,
    address: str,
    data_dir: Path,
    paths: StatePaths,
    user: UnixUser | None,
    installation: Installation,
) -> ComponentRun:
    comp = component(unit.name)
    options = comp.options(unit.options)
    where = Instance(
        name=unit.name,
        instance=instance,
        address=address,
        port=comp.port(options),
        data_dir=data_dir,
        secrets_dir=paths.secrets,
        cache_dir=cache_dir(),
        run_as=(user.uid, user.gid) if user else None,
    )
    process = comp.process(options, installation, where)
    return ComponentRun(comp, options, where, process, installation.version)


def component_env(runs: Mapping[str, ComponentRun]) -> dict[str, str]:
    """The connection environment of every component, for the services."""
    env: dict[str, str] = {}
    for run in runs.values():
        env.update(run.component.connection_env(run.options, run.where))
    return env


def ensure_catalog_token(paths: StatePaths) -> str:
    """The management token of the stack's catalog: made once, kept mode 0600."""
    path = paths.catalog_token
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if not token:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        token = secrets.token_hex(16)
        token = f"{token[:8]}-{token[8:12]}-{token[12:16]}-{token[16:20]}-{token[20:]}"
        atomic_write_text(path, token + "\n", mode=0o600)
    return token


def catalog_argv(settings: CatalogSettings, paths: StatePaths, data_dir: Path) -> list[str]:
    argv = [
        sys.executable, "-m", "leapfrog", "catalog", "serve",
        "--http", settings.http,
        "--dns", settings.dns,
        "--data-dir", str(data_dir),
        "--datacenter", settings.datacenter,
        "--node", socket.gethostname().split(".")[0] or "leapfrog",
    ]  # fmt: skip
    if settings.acl:
        argv += ["--acl-token-file", str(paths.catalog_token)]
    if not settings.anonymous_read:
        argv.append("--no-anonymous-read")
    return argv


def catalog_env(settings: CatalogSettings, paths: StatePaths) -> dict[str, str]:
    """How every other unit reaches the catalog, as Consul's own tools expect it."""
    env = {"CONSUL_HTTP_ADDR": settings.http, "LEAPFROG_CATALOG_DNS": settings.dns}
    if settings.acl:
        env["CONSUL_HTTP_TOKEN"] = ensure_catalog_token(paths)
    return env
