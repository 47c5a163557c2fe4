"""What exactly runs for each instance: argv, environment, address, user, files.

Built once before anything starts, so every mistake that can be found without running
(an unknown ${VAR}, a working directory that does not exist, an app user that cannot
be created) is reported up front, naming the stack file line.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from leapfrog.components import component
from leapfrog.plan import Plan, Unit, build_plan
from leapfrog.runtime.local.environment import base_env, dependency_endpoints, instance_env
from leapfrog.runtime.local.logwriter import LogLimits
from leapfrog.runtime.local.network import HOST, Attachment, NetworkProvider, network_for
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.runtime.local.platform import (
    ComponentRun,
    Installer,
    InstanceGrant,
    catalog_argv,
    catalog_env,
    catalog_reader_env,
    component_env,
    component_run,
    install_all,
    instance_tokens,
    quiet_installer,
    web_ui,
)
from leapfrog.runtime.local.runas import check_reachable, resolve_user
from leapfrog.runtime.local.volumes import InstanceVolume, instance_volumes
from leapfrog.runtime.local.volumes import check_reachable as volume_reachable
from leapfrog.shared.envsubst import UnknownVariable, substitute
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.users import UnixUser, blocked_at
from leapfrog.spec import CheckSpec, RestartSpec, ServiceSpec, Stack

__all__ = ["Launch", "build_launches", "revision_launches"]


@dataclass(frozen=True)
class Launch:
    name: str
    unit: str
    index: int
    address: str
    port: int | None
    argv: tuple[str, ...]
    env: dict[str, str] = field(compare=False)
    cwd: str
    user: UnixUser | None
    """None: run as the supervisor's own user."""
    log_path: Path
    log_limits: LogLimits
    """Rotation of log_path while the instance runs."""
    data_dir: Path
    check: CheckSpec | None
    check_argv: tuple[str, ...] | None
    """The exec check's command after ${VAR} substitution."""
    restart: RestartSpec
    stop_signal: str
    stop_grace_period: float
    kind: str = "service"
    """service, component or catalog"""
    component: ComponentRun | None = field(default=None, compare=False)
    """For a component: the contract's view of this instance (probe, setup, files)."""
    volumes: tuple[InstanceVolume, ...] = ()
    """The named volumes this instance uses, made and mounted before each start."""
    network: Attachment = field(default=HOST, compare=False)
    """The network its processes run in: the host's, or a namespace of its own."""
    tls: bool = False
    """It serves TLS (a service with identity on): its HTTP check speaks TLS."""

    @functools.cached_property
    def config_hash(self) -> str:
        """Changes whenever a running instance would have to be restarted to match the spec."""
        ident = {
            "argv": self.argv,
            "env": sorted(self.env.items()),
            "cwd": self.cwd,
            "user": self.user.uid if self.user else None,
            "address": self.address,
            "port": self.port,
            "netns": self.network.netns,
            # A component's config files are read at start only: new contents, new process.
            "files": sorted(self.component.process.files.items()) if self.component else [],
        }
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def build_launches(
    stack: Stack, plan: Plan, paths: StatePaths, installer: Installer | None = None
) -> dict[str, list[Launch]]:
    """Launches of every instance of every unit, by unit name.

    Components are installed first (`installer`; quiet and cached by default), since
    what they run depends on what was installed.
    """
    provider = network_for(stack, paths)
    names = [
        n for unit in plan.order if unit != "catalog" for n in plan.units[unit].instance_names()
    ]
    addresses = provider.addresses(names)
    installations = install_all(plan, installer or quiet_installer())
    settings = stack.spec.catalog
    platform_env = catalog_env(settings, paths) if settings.enabled else {}
    # Services may run in a network of their own, where the catalog is elsewhere.
    service_platform = {
        k: provider.host_endpoint(v) if k in _HOST_ENDPOINTS else v for k, v in platform_env.items()
    }
    grants, readers = _grants(stack, plan)
    own_tokens = instance_tokens(settings, paths, grants)
    runs: dict[str, ComponentRun] = {}
    result: dict[str, list[Launch]] = {}
    for unit_name in plan.order:
        unit = plan.units[unit_name]
        if unit.kind == "catalog":
            addresses["catalog-1"] = settings.http.rpartition(":")[0]
            data_dir = paths.instance_data("catalog-1")
            identity = stack.spec.identity if stack.spec.identity_on else None
            argv = catalog_argv(
                settings, paths, data_dir, web_ui(plan), identity.default if identity else None
            )
            result[unit_name] = [
                _launch(
                    unit,
                    index=1,
                    name="catalog-1",
                    addresses=addresses,
                    paths=paths,
                    user=None,
                    cwd=stack.base_dir,
                    argv=argv,
                    env={},
                )
            ]
            continue
        user = resolve_user(stack, unit)
        if unit.kind == "component":
            chosen = component(unit.name)
            # leapfrog's own programs that read the stack's state or act on the stack run
            # as the stack's owner, as `leapfrog` commands do.
            owner = chosen.reads_state or chosen.acts_on_stack
            user = None if owner else _leapfrog_reachable(unit, user)
            launches = []
            for index, name in enumerate(unit.instance_names(), start=1):
                data_dir = paths.instance_data(name)
                run = component_run(
                    unit,
                    instance=name,
                    address=addresses[name],
                    data_dir=data_dir,
                    paths=paths,
                    user=user,
                    installation=installations[unit_name],
                    stack_dir=stack.base_dir,
                )
                runs[name] = run
                env = dict(run.process.env)
                if run.component.reads_state:
                    env["LEAPFROG_STATE_DIR"] = str(paths.root)
                    env["LEAPFROG_CONTROL_SOCKET"] = str(paths.control_socket)
                if run.component.acts_on_stack:
                    env["LEAPFROG_STACK_FILE"] = str(stack.path.resolve())
                launch = _launch(
                    unit,
                    index=index,
                    name=name,
                    addresses=addresses,
                    paths=paths,
                    user=user,
                    cwd=data_dir,
                    argv=run.process.argv,
                    env=env,
                )
                launches.append(replace(launch, component=run, **_stop_of(run)))
            result[unit_name] = launches
            continue
        cwd = _working_dir(stack, unit)
        if user is not None:
            check_reachable(stack, unit_name, cwd, user)
        shared = (
            service_platform | component_env(runs) | dependency_endpoints(plan, unit, addresses)
        )
        result[unit_name] = [
            _service_launch(
                stack,
                unit,
                index=index,
                name=name,
                addresses=addresses,
                paths=paths,
                user=user,
                cwd=cwd,
                shared=shared | _own_token(own_tokens, name),
            )
            for index, name in enumerate(unit.instance_names(), start=1)
        ]
    reader_env = catalog_reader_env(settings, paths) if settings.enabled else {}
    if stack.spec.identity_on:
        reader_env["LEAPFROG_IDENTITY"] = "on"
    # The stack's name too: their own events carry it, as every service's do.
    _catalog_readers(
        result,
        {"LEAPFROG_STACK": stack.name} | platform_env | component_env(runs) | reader_env,
        {name: _own_token(own_tokens, name) for name in readers},
    )
    return _attached(result, provider)


_HOST_ENDPOINTS = ("CONSUL_HTTP_ADDR", "LEAPFROG_CATALOG_DNS")


def revision_launches(
    stack: Stack,
    paths: StatePaths,
    service: str,
    section: Mapping[str, Any],
    count: int,
    *,
    counts: Mapping[str, int] | None = None,
) -> list[Launch]:
    """The launches 1..`count` of `service` as `section` (one of its revisions, the
    stack file's section as JSON) says, the rest of the stack as `stack` says, each
    other service at its `counts` where given (the running counts): what a rollout
    starts, and what an instance of an older revision runs. LeapfrogError when the
    section no longer validates or its instances cannot be built."""
    try:
        changed = ServiceSpec.model_validate({**section, "replicas": count})
    except ValidationError as exc:
        raise LeapfrogError(f"its section no longer validates: {exc}") from None
    services = {
        name: svc.model_copy(update={"replicas": (counts or {}).get(name, svc.replicas)})
        for name, svc in stack.spec.services.items()
    }
    services[service] = changed
    stack = replace(stack, spec=stack.spec.model_copy(update={"services": services}))
    return build_launches(stack, build_plan(stack), paths)[service]


def _grants(stack: Stack, plan: Plan) -> tuple[dict[str, InstanceGrant], list[str]]:
    """The catalog tokens of their own, by instance: every service instance's; and the
    instances of the components that read the catalog (the second list)."""
    grants = {
        name: InstanceGrant(unit.name, tuple(unit.service.kv), tuple(unit.service.kv_write))
        for unit in plan.units.values()
        if unit.kind == "service"
        for name in unit.instance_names()
    }
    readers = [
        name
        for unit in plan.units.values()
        if unit.kind == "component" and getattr(component(unit.name), "uses_catalog", False)
        for name in unit.instance_names()
    ]
    if stack.spec.identity_on:
        # With service identity, what reads the catalog (the load balancer) has an
        # identity of its own too: it reads as before, and gets its own certificate,
        # which needs write on its service (Consul's rule for a leaf).
        for unit in plan.units.values():
            if unit.kind == "component" and getattr(component(unit.name), "uses_catalog", False):
                grants |= {name: InstanceGrant(unit.name, ("",)) for name in unit.instance_names()}
    return grants, readers


def _attached(
    launches: dict[str, list[Launch]], provider: NetworkProvider
) -> dict[str, list[Launch]]:
    """Each launch with the network it runs in. The catalog and the components that serve
    the host (the load balancer, leapfrog's own programs) stay in the host's network."""
    return {
        unit: [
            replace(
                one,
                network=provider.attachment(
                    one.name,
                    one.address,
                    host_network=one.kind == "catalog"
                    or (one.component is not None and one.component.component.host_network),
                ),
            )
            for one in group
        ]
        for unit, group in launches.items()
    }


def _own_token(tokens: Mapping[str, str], name: str) -> dict[str, str]:
    return {"CONSUL_HTTP_TOKEN": tokens[name]} if name in tokens else {}


def _catalog_readers(
    launches: dict[str, list[Launch]],
    env: Mapping[str, str],
    tokens: Mapping[str, Mapping[str, str]],
) -> None:
    """Components that read the catalog (the load balancer) get what services get (the
    catalog's address, every component's connection: Kafka for logs) but a read-only
    token, or (`tokens`, with identity on) one of their own."""
    for launch in (one for unit in launches.values() for one in unit):
        run = launch.component
        if run is not None and getattr(run.component, "uses_catalog", False):
            own = dict(launch.env)
            launch.env.update(env)
            launch.env.update(tokens.get(launch.name, {}))
            launch.env.update(own)


def _leapfrog_reachable(unit: Unit, user: UnixUser | None) -> UnixUser | None:
    """The user a component runs as. One that runs leapfrog's own interpreter stays with
    the supervisor's user when the app user cannot reach that interpreter, as the
    catalog always does, rather than fail to start."""
    if user is None or not component(unit.name).runs_leapfrog:
        return user
    blocked = blocked_at(Path(sys.executable).parent, user)
    return user if blocked is None else None


def _stop_of(run: ComponentRun) -> dict[str, Any]:
    return {
        "stop_signal": run.process.stop_signal,
        "stop_grace_period": run.process.stop_grace_period,
    }


def _working_dir(stack: Stack, unit: Unit) -> Path:
    svc = unit.service
    cwd = (stack.base_dir / svc.working_dir).resolve() if svc.working_dir else stack.base_dir
    if not cwd.is_dir():
        raise LeapfrogError(
            f"{stack.path.name}:{stack.line_of(f'services.{unit.name}.working_dir')}: "
            f"services.{unit.name}.working_dir: {cwd} is not a directory",
            hint="create it, or fix the path (it is relative to the stack file)",
        )
    return cwd


def _launch(
    unit: Unit,
    *,
    index: int,
    name: str,
    addresses: dict[str, str],
    paths: StatePaths,
    user: UnixUser | None,
    cwd: Path,
    argv: Sequence[str],
    env: dict[str, str],
    check_argv: tuple[str, ...] | None = None,
    inherit: bool = True,
) -> Launch:
    """The launch of one instance. `inherit`: start from leapfrog's own basic environment
    (PATH, LANG, ...); a service's `env` already has it."""
    svc = unit.service
    data_dir = paths.instance_data(name)
    base = base_env(user, data_dir) if inherit else {}
    return Launch(
        name=name,
        unit=unit.name,
        index=index,
        address=addresses[name],
        port=svc.port,
        argv=tuple(argv),
        env=base | env,
        cwd=str(cwd),
        user=user,
        log_path=paths.instance_log(name),
        log_limits=LogLimits(svc.logs.max_size, svc.logs.max_files),
        data_dir=data_dir,
        check=svc.check,
        check_argv=check_argv,
        restart=svc.restart,
        stop_signal=svc.stop_signal,
        stop_grace_period=svc.stop_grace_period,
        kind=unit.kind,
    )


def _service_launch(
    stack: Stack,
    unit: Unit,
    *,
    index: int,
    name: str,
    addresses: dict[str, str],
    paths: StatePaths,
    user: UnixUser | None,
    cwd: Path,
    shared: Mapping[str, str],
) -> Launch:
    svc = unit.service
    data_dir = paths.instance_data(name)
    env = instance_env(
        stack, unit, index=index, name=name, address=addresses[name], data_dir=data_dir, user=user
    )
    env.update(shared)
    volumes = instance_volumes(stack, unit.name, name, paths)
    for volume in volumes:
        env[volume.env_name] = str(volume.directory)
        if user is not None and index == 1:
            volume_reachable(stack, volume, user)
    field_name = "env"
    try:
        for key, value in svc.env.items():
            env[key] = substitute(value, env)
        field_name = "command"
        argv = tuple(substitute(arg, env) for arg in svc.command)
        field_name = "check.exec"
        check_argv = (
            tuple(substitute(arg, env) for arg in svc.check.exec)
            if svc.check is not None and svc.check.exec
            else None
        )
    except UnknownVariable as exc:
        where = f"services.{unit.name}.{field_name}"
        raise LeapfrogError(
            f"{stack.path.name}:{stack.line_of(where)}: {where}: ${{{exc.name}}} is not set",
            hint="known variables: " + ", ".join(sorted(env)) + "; write $$ for a literal $",
        ) from None
    launch = _launch(
        unit,
        index=index,
        name=name,
        addresses=addresses,
        paths=paths,
        user=user,
        cwd=cwd,
        argv=argv,
        env=env,
        check_argv=check_argv,
        inherit=False,
    )
    return replace(launch, volumes=volumes, tls=stack.spec.identity_on)
