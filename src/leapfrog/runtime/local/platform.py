"""The platform's own units in a local stack: the catalog and the components.

Services run what the stack file says; for these two kinds leapfrog decides what runs:
the catalog is leapfrog's own `catalog serve`, a component is whatever its module's
`process` says. Both hand their connection details to the services' environment.
"""

from __future__ import annotations

import json
import secrets
import socket
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leapfrog.components import component
from leapfrog.components.base import Component, Installation, Instance, Process, Progress
from leapfrog.plan import Plan, Unit
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.shared.cache import cache_dir
from leapfrog.shared.files import atomic_write_text, exclusive_lock, read_json
from leapfrog.shared.resolvers import RESOLV_CONF, host_nameservers, split_dns_server
from leapfrog.shared.users import UnixUser
from leapfrog.spec import CatalogSettings

__all__ = [
    "INSTANCE_PREFIX",
    "CatalogTokens",
    "ComponentRun",
    "Installer",
    "InstanceGrant",
    "catalog_argv",
    "catalog_env",
    "catalog_reader_env",
    "component_run",
    "ensure_catalog_token",
    "ensure_catalog_tokens",
    "install_all",
    "instance_tokens",
    "prune_instance_tokens",
    "quiet_installer",
    "web_ui",
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
    stack_dir: Path | None = None,
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
        stack_dir=stack_dir,
    )
    process = comp.process(options, installation, where)
    return ComponentRun(comp, options, where, process, installation.version)


def web_ui(plan: Plan) -> str | None:
    """The first web UI a component of the plan serves (the console): where the catalog's
    `/ui` leads."""
    for unit in plan.units.values():
        if unit.kind == "component":
            comp = component(unit.name)
            url = comp.web_ui(comp.options(unit.options))
            if url:
                return url
    return None


def component_env(runs: Mapping[str, ComponentRun]) -> dict[str, str]:
    """The connection environment of every component, for the services."""
    env: dict[str, str] = {}
    for run in runs.values():
        env.update(run.component.connection_env(run.options, run.where))
    return env


def _new_token() -> str:
    token = secrets.token_hex(16)
    return f"{token[:8]}-{token[8:12]}-{token[12:16]}-{token[16:20]}-{token[20:]}"


def ensure_catalog_token(paths: StatePaths) -> str:
    """The management token of the stack's catalog: made once, kept mode 0600."""
    path = paths.catalog_token
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if not token:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        token = _new_token()
        atomic_write_text(path, token + "\n", mode=0o600)
    return token


def _rules(**levels: str) -> dict[str, Any]:
    """Consul JSON rules giving each `<resource>_prefix ""` its level."""
    return {f"{resource}_prefix": {"": {"policy": level}} for resource, level in levels.items()}


_PURPOSES: dict[str, tuple[str, dict[str, Any]]] = {
    # Consul's acl.tokens.dns: what DNS lookups may see (`dig kafka.service.consul`).
    "dns": ("DNS lookups", _rules(service="read", node="read")),
    # Components that follow the catalog (the load balancer): they only read.
    "read": (
        "components that read the catalog (the load balancer)",
        _rules(service="read", node="read", key="read"),
    ),
}
INSTANCE_PREFIX = "instance:"
"""Tokens file names of the services' own tokens (`instance:web-1`)."""


@dataclass(frozen=True)
class InstanceGrant:
    """What one service instance's token carries: Consul's service identity of its
    service (write that service and its sidecar, read every service and node), read on
    the KV prefixes its stack file section lists (`kv:`) and write on `kv_write:`'s."""

    service: str
    kv: tuple[str, ...] = ()
    kv_write: tuple[str, ...] = ()
    """Prefixes it may also write (`kv_write:`)."""

    def entry(self, secret: str, instance: str) -> dict[str, Any]:
        prefixes = {p: {"policy": "read"} for p in self.kv}
        prefixes |= {p: {"policy": "write"} for p in self.kv_write}
        rules = {"key_prefix": prefixes} if prefixes else {}
        return {
            "SecretID": secret,
            "Description": f"{instance}: service {self.service}",
            "ServiceIdentities": [{"ServiceName": self.service}],
            "Rules": rules,
        }


@dataclass(frozen=True)
class CatalogTokens:
    """The per-purpose tokens of a stack's catalog, by purpose (dns, read, services)."""

    secrets: Mapping[str, str]

    @property
    def read(self) -> str:
        return self.secrets["read"]

    def instance(self, name: str) -> str:
        """The token of service instance `name` (`ensure_catalog_tokens(instances=...)`)."""
        return self.secrets[INSTANCE_PREFIX + name]


def ensure_catalog_tokens(
    paths: StatePaths, instances: Mapping[str, InstanceGrant] | None = None
) -> CatalogTokens:
    """The catalog's tokens file (`catalog serve --acl-tokens-file`), mode 0600: each
    purpose's secret is made once and kept; its rules are rewritten to this version's.
    `instances`: service instances and their grants, each given its own token (kept
    across runs). Other instances keep theirs: while the stack runs, a rollout's surge
    instance or a scaled one of another service has a token no stack-file count lists,
    and taking it away would fail its registration. `prune_instance_tokens` drops the
    tokens of instances no longer there when the stack starts afresh. The catalog reads
    the file again when it changes.

    Read, changed and saved under a lock: the rollouts of several services prepare their
    new instances at once (in threads), and each must not save over the others' tokens."""
    path = paths.catalog_tokens
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with exclusive_lock(_lock_of(path)):
        return _ensure_catalog_tokens(path, instances)


def _lock_of(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _ensure_catalog_tokens(
    path: Path, instances: Mapping[str, InstanceGrant] | None
) -> CatalogTokens:
    found = read_json(path)
    old = found.get("tokens", {}) if isinstance(found, dict) else {}
    old = old if isinstance(old, dict) else {}
    tokens: dict[str, Any] = {}
    for name, (description, rules) in _PURPOSES.items():
        tokens[name] = {
            "SecretID": _secret_of(old.get(name)),
            "Description": description,
            "Rules": rules,
        }
    tokens |= {k: v for k, v in old.items() if k.startswith(INSTANCE_PREFIX)}
    if instances is not None:
        for instance, grant in sorted(instances.items()):
            key = INSTANCE_PREFIX + instance
            tokens[key] = grant.entry(_secret_of(old.get(key)), instance)
    if tokens != old:
        atomic_write_text(path, json.dumps({"tokens": tokens}, indent=1) + "\n", mode=0o600)
    return CatalogTokens({name: entry["SecretID"] for name, entry in tokens.items()})


def prune_instance_tokens(paths: StatePaths, keep: Iterable[str]) -> None:
    """Drop the tokens of service instances not in `keep` (at a fresh start: no
    instance of an earlier run is running then)."""
    path = paths.catalog_tokens
    if not path.parent.is_dir():
        return
    wanted = {INSTANCE_PREFIX + name for name in keep}
    with exclusive_lock(_lock_of(path)):
        found = read_json(path)
        tokens = found.get("tokens") if isinstance(found, dict) else None
        if not isinstance(tokens, dict):
            return
        kept = {k: v for k, v in tokens.items() if not k.startswith(INSTANCE_PREFIX) or k in wanted}
        if kept != tokens:
            atomic_write_text(path, json.dumps({"tokens": kept}, indent=1) + "\n", mode=0o600)


def _secret_of(entry: Any) -> str:
    secret = entry.get("SecretID") if isinstance(entry, dict) else None
    return secret if isinstance(secret, str) and secret else _new_token()


def catalog_argv(
    settings: CatalogSettings,
    paths: StatePaths,
    data_dir: Path,
    ui_url: str | None = None,
    intention_default: str | None = None,
) -> list[str]:
    """`leapfrog catalog serve` of the stack. `intention_default`: Consul's
    `default_intention_policy` (`deny` when the stack turns identity on)."""
    argv = [
        sys.executable, "-m", "leapfrog", "catalog", "serve",
        "--http", settings.http,
        "--dns", settings.dns,
        "--data-dir", str(data_dir),
        "--datacenter", settings.datacenter,
        "--node", socket.gethostname().split(".")[0] or "leapfrog",
    ]  # fmt: skip
    for recursor in catalog_recursors(settings):
        argv += ["--recursor", recursor]
    if ui_url:
        argv += ["--ui", ui_url]
    if intention_default:
        argv += ["--default-intention-policy", intention_default]
    if not settings.acl:
        return [*argv, "--acl", "off"]
    argv += ["--acl-token-file", str(paths.catalog_token)]
    argv += ["--acl-tokens-file", str(paths.catalog_tokens)]
    if settings.anonymous_read:
        argv.append("--anonymous-read")
    return argv


def catalog_recursors(settings: CatalogSettings, resolv_conf: Path = RESOLV_CONF) -> list[str]:
    """Where the catalog's DNS asks names outside its domain: the stack file's
    `recursors`, else the host's nameservers but the catalog itself (it would ask itself)."""
    if settings.recursors is not None:
        return list(settings.recursors)
    own = split_dns_server(settings.dns)
    return [ns for ns in host_nameservers(resolv_conf) if split_dns_server(ns) != own]


def catalog_env(settings: CatalogSettings, paths: StatePaths) -> dict[str, str]:
    """How the services reach the catalog, as Consul's own tools expect it: its address.
    Each instance's own token (CONSUL_HTTP_TOKEN) comes from `instance_tokens`; the
    management token stays with the supervisor."""
    if settings.acl:
        ensure_catalog_token(paths)
    return {"CONSUL_HTTP_ADDR": settings.http, "LEAPFROG_CATALOG_DNS": settings.dns}


def instance_tokens(
    settings: CatalogSettings, paths: StatePaths, instances: Mapping[str, InstanceGrant]
) -> dict[str, str]:
    """CONSUL_HTTP_TOKEN of every service instance, by instance name ({} with ACL off)."""
    if not settings.enabled or not settings.acl:
        return {}
    tokens = ensure_catalog_tokens(paths, instances)
    return {name: tokens.instance(name) for name in instances}


def catalog_reader_env(settings: CatalogSettings, paths: StatePaths) -> dict[str, str]:
    """What a component that only reads the catalog (the load balancer) gets instead."""
    if not settings.acl:
        return {}
    return {"CONSUL_HTTP_TOKEN": ensure_catalog_tokens(paths).read}
