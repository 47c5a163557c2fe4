"""A DnsView held in memory, and helpers to ask a Responder and read its answer."""

from __future__ import annotations

from dataclasses import dataclass, field

import dns.message
import dns.rdatatype

from leapfrog.catalog.dns._answers import Zone
from leapfrog.catalog.dns._responder import Responder
from leapfrog.catalog.dns.view import DnsInstance


@dataclass
class FakeView:
    datacenter: str = "dc1"
    node_name: str = "node1"
    nodes: dict[str, str] = field(default_factory=lambda: {"node1": "127.0.0.1"})
    services: dict[str, list[tuple[DnsInstance, tuple[str, ...]]]] = field(default_factory=dict)
    meta: dict[str, dict[str, str]] = field(default_factory=dict)

    def add(self, service: str, inst: DnsInstance, *tags: str) -> None:
        self.services.setdefault(service, []).append((inst, tags))

    def dns_instances(self, service: str, tag: str | None) -> list[DnsInstance] | None:
        for name, entries in self.services.items():
            if name.lower() == service.lower():
                return [
                    inst
                    for inst, tags in entries
                    if tag is None or tag.lower() in (t.lower() for t in tags)
                ]
        return None

    def node_address(self, node: str) -> str | None:
        for name, address in self.nodes.items():
            if name.lower() == node.lower():
                return address
        return None

    def node_meta(self, node: str) -> dict[str, str]:
        return dict(self.meta.get(node.lower(), {}))


def instance(
    address: str = "127.0.0.1",
    port: int = 8080,
    *,
    node: str = "node1",
    node_address: str = "127.0.0.1",
    weight: int = 1,
    own_address: bool | None = None,
) -> DnsInstance:
    """By default an instance on its node's address has no address of its own."""
    own = address != node_address if own_address is None else own_address
    return DnsInstance(node, node_address, address, port, weight, own_address=own)


def standard_view() -> FakeView:
    view = FakeView()
    view.nodes["node2"] = "127.0.0.5"
    view.add("web", instance("127.0.0.1", 8080), "v1", "primary")
    view.add("web", instance("127.0.0.2", 8081, weight=3), "v2")
    view.add("empty", instance(), "never")
    view.services["empty"] = []
    view.add("api", instance("127.0.0.5", 9000, node="node2", node_address="127.0.0.5"))
    view.add("v6", instance("::1", 7000))
    view.add("named", instance("db.example.com", 5432))
    return view


def ask(
    responder: Responder,
    name: str,
    rdtype: str = "A",
    *,
    tcp: bool = False,
    use_edns: int | bool = False,
    payload: int = 1232,
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, use_edns=use_edns, payload=payload)
    wire = responder.respond(query.to_wire(), tcp=tcp)
    assert wire is not None
    reply = dns.message.from_wire(wire)
    assert reply.id == query.id
    return reply


def responder(view: FakeView | None = None, *, ttl: int = 0) -> Responder:
    return Responder(view or standard_view(), Zone(("consul",), ttl))


def rrset_texts(section: list[dns.rrset.RRset], rdtype: str) -> list[str]:
    wanted = dns.rdatatype.from_text(rdtype)
    return sorted(rd.to_text() for rrset in section if rrset.rdtype == wanted for rd in rrset)
