"""What the DNS server needs from the catalog: a read-only view, so it is tested without it.

The catalog's store implements `DnsView`; the DNS server (`leapfrog.catalog.dns`) only
reads through it, on the event loop thread, and never blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["DnsInstance", "DnsView"]


@dataclass(frozen=True)
class DnsInstance:
    """One instance of a service as DNS sees it (already without critical ones)."""

    node: str
    node_address: str
    address: str
    """The service address, or the node address when the service has none."""
    port: int
    weight: int
    """Weights.Passing, or Weights.Warning when one of its checks is warning."""
    own_address: bool = True
    """The service was registered with an address of its own (SRV then targets it as
    `<hex>.addr.<dc>.<domain>`, as Consul does), rather than using its node's."""


class DnsView(Protocol):
    @property
    def datacenter(self) -> str: ...

    @property
    def node_name(self) -> str: ...

    def dns_instances(self, service: str, tag: str | None) -> list[DnsInstance] | None:
        """Instances of `service` (case-insensitive) with `tag` (when given) that have no
        critical check; None when no service of that name is registered at all."""
        ...

    def node_address(self, node: str) -> str | None:
        """The address of a node (case-insensitive), None when unknown."""
        ...

    def node_meta(self, node: str) -> dict[str, str]:
        """A node's metadata (its TXT records), empty when it has none or is unknown."""
        ...
