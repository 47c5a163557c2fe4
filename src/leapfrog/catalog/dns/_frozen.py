"""What one query reads from a `DnsView`, read up front, so the answer can be built and
encoded away from the event loop.

A large answer (thousands of SRV records over TCP) is mostly building and encoding
records: that part runs on a worker thread, from this copy, while the loop keeps
serving. Only the reads (each a dictionary lookup, or a cached list) happen on the loop,
where the catalog's state may be read safely.
"""

from __future__ import annotations

from leapfrog.catalog.dns._answers import Zone
from leapfrog.catalog.dns._names import NodeLookup, ServiceLookup, parse_name
from leapfrog.catalog.dns._wire import Query
from leapfrog.catalog.dns.view import DnsInstance, DnsView

__all__ = ["FrozenView"]


class FrozenView:
    """A `DnsView` holding what answering `query` reads from `view`, nothing else."""

    def __init__(self, view: DnsView, zone: Zone, query: Query) -> None:
        self.datacenter = view.datacenter
        self.node_name = view.node_name
        self._instances: dict[tuple[str, str | None], list[DnsInstance] | None] = {}
        nodes = {self.node_name}
        labels = tuple(label.lower() for label in query.labels)
        lookup = parse_name(labels, zone.domain, self.datacenter.lower())
        if isinstance(lookup, ServiceLookup):
            found = view.dns_instances(lookup.service, lookup.tag)
            self._instances[(lookup.service, lookup.tag)] = found
            nodes.update(inst.node for inst in found or ())
        elif isinstance(lookup, NodeLookup):
            nodes.add(lookup.node)
        self._addresses = {node.lower(): view.node_address(node) for node in nodes}
        self._metas = {node.lower(): dict(view.node_meta(node)) for node in nodes}

    def dns_instances(self, service: str, tag: str | None) -> list[DnsInstance] | None:
        return self._instances.get((service, tag))

    def node_address(self, node: str) -> str | None:
        return self._addresses.get(node.lower())

    def node_meta(self, node: str) -> dict[str, str]:
        return self._metas.get(node.lower(), {})
