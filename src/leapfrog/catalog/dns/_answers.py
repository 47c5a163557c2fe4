"""Answers to a decoded query, read from a `DnsView` the way a Consul agent answers them."""

from __future__ import annotations

import functools
import ipaddress
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from leapfrog.catalog.dns._message import Answer, Group, Record, Soa, Srv, Txt
from leapfrog.catalog.dns._names import (
    AddrLookup,
    Apex,
    Invalid,
    NodeLookup,
    Outside,
    ServiceLookup,
    parse_name,
)
from leapfrog.catalog.dns._wire import CLASS_ANY, CLASS_IN, Query, Rcode, RRType, split_name
from leapfrog.catalog.dns.view import DnsInstance, DnsView

__all__ = ["Zone", "build_answer"]

_ADDRESS_TYPES = (RRType.A, RRType.AAAA, RRType.CNAME, RRType.ANY)


@dataclass(frozen=True)
class Zone:
    domain: tuple[str, ...]
    """The served domain's labels, lowercase."""
    ttl: int

    def node_target(self, view: DnsView, node: str) -> tuple[str, ...]:
        return (*split_name(node), "node", view.datacenter, *self.domain)

    def soa(self, view: DnsView) -> Record:
        soa = Soa(
            mname=("ns", *self.domain),  # Consul's primary name server, whatever the node
            rname=("hostmaster", *self.domain),
            serial=int(time.time()) & 0xFFFFFFFF,
            refresh=3600,
            retry=600,
            expire=86400,
            minimum=self.ttl,  # negative answers are cached no longer than positive ones
        )
        return Record(self.domain, RRType.SOA, self.ttl, soa)


@functools.lru_cache(maxsize=16384)
def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address as an IP, None for a host name (parsing costs ~5 us, and the same
    addresses are answered again and again)."""
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def address_records(owner: tuple[str, ...], address: str, qtype: int, ttl: int) -> list[Record]:
    """A or AAAA for an IP (when `qtype` asks for that family), CNAME for a host name."""
    if qtype not in _ADDRESS_TYPES:
        return []
    ip = _ip(address)
    if ip is None:
        target = split_name(address)
        return [Record(owner, RRType.CNAME, ttl, target)] if target else []
    rtype = RRType.A if ip.version == 4 else RRType.AAAA
    if qtype in (rtype, RRType.ANY):
        return [Record(owner, rtype, ttl, ip.packed)]
    return []


def _rfc1464(key: str, value: str) -> str:
    """A node meta pair as Consul writes it in TXT: `key=value` with RFC 1464's quoting
    (or the bare value for keys starting with `rfc1035-`)."""
    if key.lower().startswith("rfc1035-"):
        return value
    key = key.replace("`", "``").replace("=", "`=")
    stripped = key.lstrip(" ")
    key = "` " * (len(key) - len(stripped)) + stripped
    stripped = key.rstrip(" ")
    key = stripped + "` " * (len(key) - len(stripped))
    return f"{key}={value.replace('`', '``')}"


def meta_records(owner: tuple[str, ...], meta: dict[str, str], ttl: int) -> list[Record]:
    """One TXT record per node meta pair."""
    return [Record(owner, RRType.TXT, ttl, Txt(_rfc1464(k, v).encode())) for k, v in meta.items()]


def _srv_group(zone: Zone, view: DnsView, owner: tuple[str, ...], inst: DnsInstance) -> Group:
    """SRV `1 <weight> <port> <target>`, the target's address and the node's meta (TXT).
    A service with an IP address of its own is targeted as `<hex>.addr.<dc>.<domain>`,
    one without as its node, one with a host name as that name (Consul's rules)."""
    ip = _ip(inst.address)
    packed = ip.packed if ip is not None else None
    if not inst.own_address or not inst.address:
        target = zone.node_target(view, inst.node)
        address = inst.node_address
    elif packed is not None:
        target = (packed.hex(), "addr", view.datacenter, *zone.domain)
        address = inst.address
    else:
        target, address = split_name(inst.address), ""
    srv = Srv(1, max(0, min(inst.weight, 0xFFFF)), inst.port, target)
    extra = address_records(target, address, RRType.ANY, zone.ttl) if address else []
    node = zone.node_target(view, inst.node)
    extra += meta_records(node, view.node_meta(inst.node), zone.ttl)
    return Group((Record(owner, RRType.SRV, zone.ttl, srv),), tuple(extra))


def _shuffled(instances: list[DnsInstance]) -> Iterator[DnsInstance]:
    """A random order, drawn lazily (Fisher-Yates): answers stop at what fits."""
    pool = list(instances)
    for index in range(len(pool)):
        pick = random.randrange(index, len(pool))
        pool[index], pool[pick] = pool[pick], pool[index]
        yield pool[index]


def _service(
    zone: Zone, view: DnsView, query: Query, lookup: ServiceLookup, max_groups: int
) -> Answer:
    instances = view.dns_instances(lookup.service, lookup.tag)
    if not instances:
        return Answer(Rcode.NXDOMAIN, authority=[zone.soa(view)])
    groups: list[Group] = []
    seen: set[Record] = set()
    # Consul answers TXT on a service name with its addresses, as it answers ANY.
    qtype = RRType.ANY if query.qtype == RRType.TXT else query.qtype
    for inst in _shuffled(instances):  # Consul shuffles, spreading load over instances
        if len(groups) >= max_groups:
            break
        if query.qtype == RRType.SRV:
            groups.append(_srv_group(zone, view, query.labels, inst))
            continue
        address = inst.address or inst.node_address
        for record in address_records(query.labels, address, qtype, zone.ttl):
            if record not in seen:  # instances sharing an address get one record
                seen.add(record)
                groups.append(Group((record,)))
    return _with_soa_if_empty(zone, view, groups)


def _with_soa_if_empty(zone: Zone, view: DnsView, groups: list[Group]) -> Answer:
    if groups:
        return Answer(Rcode.NOERROR, groups=groups)
    return Answer(Rcode.NOERROR, authority=[zone.soa(view)])


def _apex(zone: Zone, view: DnsView, query: Query) -> Answer:
    if query.qtype in (RRType.SOA, RRType.ANY):
        return Answer(Rcode.NOERROR, groups=[Group((zone.soa(view),))])
    if query.qtype == RRType.NS:
        target = zone.node_target(view, view.node_name)
        address = view.node_address(view.node_name) or ""
        ns = Record(zone.domain, RRType.NS, zone.ttl, target)
        extra = address_records(target, address, RRType.ANY, zone.ttl) if address else []
        return Answer(Rcode.NOERROR, groups=[Group((ns,), tuple(extra))])
    return _with_soa_if_empty(zone, view, [])


def _addr(zone: Zone, view: DnsView, query: Query, lookup: AddrLookup) -> Answer:
    address = str(ipaddress.ip_address(lookup.address))
    records = address_records(query.labels, address, query.qtype, zone.ttl)
    return _with_soa_if_empty(zone, view, [Group((r,)) for r in records])


def _node(zone: Zone, view: DnsView, query: Query, lookup: NodeLookup) -> Answer:
    """A/AAAA with the node's meta as TXT in ADDITIONAL; TXT (and ANY) answer the meta."""
    address = view.node_address(lookup.node)
    if address is None:
        return Answer(Rcode.NXDOMAIN, authority=[zone.soa(view)])
    qtype = query.qtype
    records = address_records(query.labels, address, qtype, zone.ttl) if qtype != RRType.TXT else []
    metas = (
        meta_records(query.labels, view.node_meta(lookup.node), zone.ttl)
        if qtype in (*_ADDRESS_TYPES, RRType.TXT)
        else []
    )
    if qtype in (RRType.TXT, RRType.ANY):
        return _with_soa_if_empty(zone, view, [Group((r,)) for r in (*records, *metas)])
    if not records:
        return _with_soa_if_empty(zone, view, [])
    groups = [Group((r,)) for r in records]
    groups[0] = Group(groups[0].answers, tuple(metas))
    return Answer(Rcode.NOERROR, groups=groups)


def build_answer(zone: Zone, view: DnsView, query: Query, max_groups: int) -> Answer:
    """The answer; a service lookup stops after `max_groups` groups (more would not fit)."""
    if query.edns is not None and query.edns.version > 0:
        return Answer(Rcode.BADVERS, authoritative=False)
    if query.qclass not in (CLASS_IN, CLASS_ANY) or query.qtype in (RRType.AXFR, RRType.IXFR):
        return Answer(Rcode.REFUSED, authoritative=False)
    labels = tuple(label.lower() for label in query.labels)
    lookup = parse_name(labels, zone.domain, view.datacenter.lower())
    if isinstance(lookup, Outside):
        return Answer(Rcode.REFUSED, authoritative=False)
    if isinstance(lookup, Invalid):
        return Answer(Rcode.NXDOMAIN, authority=[zone.soa(view)])
    if isinstance(lookup, Apex):
        return _apex(zone, view, query)
    if isinstance(lookup, ServiceLookup):
        return _service(zone, view, query, lookup, max_groups)
    if isinstance(lookup, AddrLookup):
        return _addr(zone, view, query, lookup)
    return _node(zone, view, query, lookup)
