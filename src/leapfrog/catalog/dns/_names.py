"""What a question name asks for: Consul's `<...>.<kind>[.<dc>].<domain>` forms."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AddrLookup",
    "Apex",
    "Invalid",
    "Lookup",
    "NodeLookup",
    "Outside",
    "ServiceLookup",
    "parse_name",
]


@dataclass(frozen=True)
class Outside:
    """Not under the served domain: Consul without recursors refuses these."""


@dataclass(frozen=True)
class Apex:
    """The domain itself (SOA, NS)."""


@dataclass(frozen=True)
class Invalid:
    """Under the domain but no known form, or another datacenter: NXDOMAIN."""


@dataclass(frozen=True)
class ServiceLookup:
    service: str
    tag: str | None


@dataclass(frozen=True)
class NodeLookup:
    node: str


@dataclass(frozen=True)
class AddrLookup:
    address: bytes
    """4 bytes (IPv4) or 16 (IPv6)."""


Lookup = Outside | Apex | Invalid | ServiceLookup | NodeLookup | AddrLookup

_KINDS = ("service", "node", "addr")
_HEX = "0123456789abcdef"


def _service(parts: tuple[str, ...]) -> Lookup:
    if len(parts) == 2 and parts[0].startswith("_") and parts[1].startswith("_"):
        # RFC 2782: _<svc>._<proto or tag>; _tcp means "no tag filter"
        service, tag = parts[0][1:], parts[1][1:]
        if not service or not tag:
            return Invalid()
        return ServiceLookup(service, None if tag == "tcp" else tag)
    # [<tag>.]<svc>: a tag may itself hold dots, so everything before the service is it
    return ServiceLookup(parts[-1], ".".join(parts[:-1]) or None)


def _addr(parts: tuple[str, ...]) -> Lookup:
    # Hex digits only: bytes.fromhex would also skip whitespace, and yield too few bytes.
    if len(parts) != 1 or len(parts[0]) not in (8, 32) or parts[0].strip(_HEX):
        return Invalid()
    return AddrLookup(bytes.fromhex(parts[0]))


def parse_name(labels: tuple[str, ...], domain: tuple[str, ...], datacenter: str) -> Lookup:
    """Classify lowercased `labels` against the lowercased `domain` and local datacenter."""
    if len(labels) < len(domain) or labels[len(labels) - len(domain) :] != domain:
        return Outside()
    inner = labels[: len(labels) - len(domain)]
    if not inner:
        return Apex()
    # The kind is the rightmost known keyword; at most one label (the datacenter) follows.
    for index in range(len(inner) - 1, -1, -1):
        if inner[index] in _KINDS:
            kind, parts, suffix = inner[index], inner[:index], inner[index + 1 :]
            break
    else:
        return Invalid()
    if len(suffix) > 1 or (suffix and suffix[0] != datacenter) or not parts:
        return Invalid()
    if kind == "service":
        return _service(parts)
    if kind == "node":
        return NodeLookup(".".join(parts))
    return _addr(parts)
