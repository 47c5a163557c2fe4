"""The store as the DNS server sees it (`leapfrog.catalog.dns.view.DnsView`)."""

from __future__ import annotations

from leapfrog.catalog._acl import Access, Authorizer
from leapfrog.catalog._index import service_topic
from leapfrog.catalog._render import node_meta
from leapfrog.catalog._store import Store
from leapfrog.catalog.dns.view import DnsInstance

__all__ = ["StoreDnsView"]

_MAX_CACHED = 1024
"""(service, tag) answers kept; the oldest goes first."""


class StoreDnsView:
    """`reader`: the token DNS reads with (None: ACL off); what it may not read does not
    exist for DNS, as in Consul."""

    def __init__(self, store: Store, reader: Authorizer | None = None) -> None:
        self._store = store
        self._reader = reader
        self._instances: dict[tuple[str, str | None], tuple[int, list[DnsInstance] | None]] = {}
        """(service, tag) -> (its topic's index, its instances): a service's instances
        and their checks (node checks too) raise that index, so an answer is read from
        the store once per change, not once per query (10,000 instances: ~25 ms)."""

    def dns_instances(self, service: str, tag: str | None) -> list[DnsInstance] | None:
        key = (service.lower(), tag.lower() if tag is not None else None)
        index = self._store.log.of(service_topic(service))
        cached = self._instances.get(key)
        if cached is not None and cached[0] == index:
            return cached[1]
        found = self._read_instances(service, tag)
        if len(self._instances) >= _MAX_CACHED and key not in self._instances:
            self._instances.pop(next(iter(self._instances)))
        self._instances[key] = (index, found)
        return found

    def _may_read(self, resource: str, name: str) -> bool:
        return self._reader is None or self._reader.allows(resource, name, Access.READ)

    @property
    def datacenter(self) -> str:
        return self._store.datacenter

    @property
    def node_name(self) -> str:
        return self._store.node_name

    def _read_instances(self, service: str, tag: str | None) -> list[DnsInstance] | None:
        store = self._store
        if not self._may_read("node", store.node_name):
            return None
        # Unsorted: DNS shuffles them anyway.
        instances = [
            s
            for s in store.by_name.get(service.lower(), {}).values()
            if self._may_read("service", s.name)
        ]
        if not instances:
            return self._consul_service() if service.lower() == "consul" and not tag else None
        node_statuses = {c.status for c in store.node_checks()}
        found = []
        lowered = tag.lower() if tag is not None else None
        for svc in instances:
            if lowered is not None and lowered not in (t.lower() for t in svc.tags):
                continue
            statuses = node_statuses | {c.status for c in store.service_checks(svc.id)}
            if "critical" in statuses:
                continue
            weight = svc.weight_warning if "warning" in statuses else svc.weight_passing
            found.append(
                DnsInstance(
                    node=store.node_name,
                    node_address=store.node_address,
                    address=svc.address or store.node_address,
                    port=svc.port,
                    weight=weight,
                    own_address=bool(svc.address),
                )
            )
        return found

    def _consul_service(self) -> list[DnsInstance]:
        """Consul's servers register themselves as the service `consul` (port 8300):
        `consul.service.consul` names this agent."""
        store = self._store
        address = store.node_address
        return [DnsInstance(store.node_name, address, address, 8300, 1, own_address=False)]

    def node_address(self, node: str) -> str | None:
        if node.lower() == self._store.node_name.lower() and self._may_read(
            "node", self._store.node_name
        ):
            return self._store.node_address
        return None

    def node_meta(self, node: str) -> dict[str, str]:
        if node.lower() == self._store.node_name.lower() and self._may_read(
            "node", self._store.node_name
        ):
            return node_meta(self._store)
        return {}
