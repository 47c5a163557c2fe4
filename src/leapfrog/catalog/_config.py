"""What `leapfrog catalog serve` (or the local runtime) starts the catalog with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from leapfrog.catalog._acl import AclConfig
from leapfrog.catalog.dns import Recursor

__all__ = ["CatalogConfig"]


@dataclass(frozen=True)
class CatalogConfig:
    data_dir: Path
    http_host: str = "127.0.0.1"
    http_port: int = 8500
    dns_host: str = "127.0.0.1"
    dns_port: int | None = 8600
    """None: no DNS server."""
    recursors: tuple[Recursor, ...] = ()
    """Where DNS questions outside the domain are asked (Consul's recursors); none:
    refused."""
    recursor_timeout: float = 2.0
    """Seconds each recursor has to answer (Consul's recursor_timeout)."""
    datacenter: str = "dc1"
    node_name: str = "leapfrog"
    acl: AclConfig | None = None
    """The management token, named tokens and anonymous reads; None turns ACL off."""
    reap_interval: float = 30.0
    """Seconds between passes that deregister long-critical services."""
    reap_minimum: float = 60.0
    """The floor of DeregisterCriticalServiceAfter (Consul's is one minute)."""
    output_throttle: float = 30.0
    """Seconds a check's output-only change waits before it is published."""
    snapshot_every: int = 50_000
    """Journal lines after which the state is snapshotted and the log restarted."""
    leaf_ttl: float = 72 * 3600.0
    """Lifetime of the service-mesh leaf certificates (Consul's LeafCertTTL, 72h)."""
    default_intention_policy: str | None = None
    """"allow" or "deny" when no intention matches; None: the ACL default (deny with ACL
    on, allow with ACL off), as Consul's `default_intention_policy` unset."""
    ui_url: str | None = None
    """Where `/ui` leads (the stack's console); None: `/ui` is a 404 saying so."""

    @property
    def node_address(self) -> str:
        return self.http_host if self.http_host not in ("", "0.0.0.0", "::") else "127.0.0.1"
