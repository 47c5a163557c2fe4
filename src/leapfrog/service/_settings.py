"""What a service knows about itself, read from the environment leapfrog (or Kubernetes)
hands it, each value overridable in code. docs/sdk.md lists every variable."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from leapfrog.service._consul import consul_url
from leapfrog.shared.durations import parse_duration

__all__ = ["CheckMode", "ServiceSettings", "SettingsError"]

CheckMode = Literal["http", "ttl", "tcp", "none"]
_MODES = ("http", "ttl", "tcp", "none")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class SettingsError(ValueError):
    """A setting has a value the SDK cannot use; the message names the variable."""


def _duration(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse_duration(raw)
    except (ValueError, OverflowError):
        raise SettingsError(
            f"{name}={raw!r}: expected a duration such as 500ms, 10s or 1m"
        ) from None
    if not 0 <= value <= 86400:
        raise SettingsError(f"{name}={raw!r}: expected a duration between 0 and 24h")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r}: expected true or false")


@dataclass(frozen=True)
class ServiceSettings:
    """One instance's identity, address, catalog registration and shutdown behaviour."""

    name: str
    instance: str
    host: str = "127.0.0.1"
    port: int = 8000
    version: str | None = None
    tags: tuple[str, ...] = ()
    meta: Mapping[str, str] = field(default_factory=dict)
    check: CheckMode = "http"
    check_interval: float = 1.0
    """HTTP/TCP checks: how often the catalog probes; TTL: the heartbeat period is TTL/3."""
    ttl: float = 10.0
    deregister_after: float = 60.0
    """A critical instance is removed from the catalog after this long (Consul's
    DeregisterCriticalServiceAfter; Consul's floor is 1m)."""
    drain: float = 1.0
    """After leaving the catalog on SIGTERM, keep serving this long before closing."""
    shutdown_timeout: float = 10.0
    """In-flight requests get this long to finish once the listener is closed."""
    consul_addr: str | None = None
    consul_token: str | None = field(default=None, repr=False)
    register: bool = True
    data_dir: Path | None = None
    identity: bool = False
    """Serve mTLS with the catalog's certificates and check callers against the
    intentions (LEAPFROG_IDENTITY=on)."""
    hostname: str = field(default_factory=socket.gethostname)

    @property
    def service_id(self) -> str:
        """Unique per instance: the instance name (leapfrog's `hello-2`, a pod's name)."""
        return self.instance

    @property
    def consul_url(self) -> str | None:
        return consul_url(self.consul_addr) if self.consul_addr else None

    def with_(self, **changes: object) -> ServiceSettings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(
        cls, name: str | None = None, env: Mapping[str, str] | None = None, **overrides: object
    ) -> ServiceSettings:
        """Settings from `env` (default: os.environ); keyword arguments win over both."""
        env = os.environ if env is None else env
        service = name or env.get("LEAPFROG_SERVICE") or env.get("SERVICE_NAME")
        if not service:
            raise SettingsError("no service name: pass name=... or set LEAPFROG_SERVICE")
        if not _NAME.match(service):
            raise SettingsError(f"service name {service!r}: use letters, digits, '-', '_', '.'")
        port_raw = env.get("PORT", "8000")
        if not port_raw.isdigit() or not 0 <= int(port_raw) <= 65535:
            raise SettingsError(f"PORT={port_raw!r}: expected a port number")
        mode = env.get("LEAPFROG_CHECK", "http").strip().lower()
        if mode not in _MODES:
            raise SettingsError(f"LEAPFROG_CHECK={mode!r}: expected one of {', '.join(_MODES)}")
        meta: dict[str, str] = {}
        for var, key in (
            ("LEAPFROG_ROUTE_PATH", "route_path"),
            ("LEAPFROG_ROUTE_HOST", "route_host"),
            ("LEAPFROG_ROUTE_STRIP_PREFIX", "route_strip_prefix"),
        ):
            if env.get(var):
                meta[key] = env[var]
        tags = tuple(t.strip() for t in env.get("LEAPFROG_TAGS", "").split(",") if t.strip())
        data_dir = env.get("LEAPFROG_DATA_DIR")
        settings = cls(
            name=service,
            instance=env.get("LEAPFROG_INSTANCE")
            or f"{service}-{socket.gethostname()}-{os.getpid()}",
            host=env.get("HOST", "127.0.0.1"),
            port=int(port_raw),
            version=env.get("LEAPFROG_VERSION") or None,
            tags=tags,
            meta=meta,
            check=mode,  # type: ignore[arg-type]
            check_interval=_duration(env, "LEAPFROG_CHECK_INTERVAL", 1.0),
            ttl=_duration(env, "LEAPFROG_CHECK_TTL", 10.0),
            deregister_after=_duration(env, "LEAPFROG_DEREGISTER_AFTER", 60.0),
            drain=_duration(env, "LEAPFROG_DRAIN", 1.0),
            shutdown_timeout=_duration(env, "LEAPFROG_SHUTDOWN_TIMEOUT", 10.0),
            consul_addr=env.get("CONSUL_HTTP_ADDR") or None,
            consul_token=env.get("CONSUL_HTTP_TOKEN") or None,
            register=_flag(env, "LEAPFROG_REGISTER", True),
            data_dir=Path(data_dir) if data_dir else None,
            identity=_flag(env, "LEAPFROG_IDENTITY", False),
        )
        return replace(settings, **overrides)  # type: ignore[arg-type]
