"""What templates see: catalog answers turned into small, sorted, attribute-friendly records."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CaLeaf",
    "KeyPair",
    "ServiceInstance",
    "ServiceName",
    "ca_leaf",
    "ca_roots",
    "instances",
    "key_pairs",
    "key_value",
    "service_names",
]


@dataclass(frozen=True)
class ServiceName:
    name: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceInstance:
    id: str
    name: str
    address: str
    port: int
    node: str = ""
    tags: tuple[str, ...] = ()
    meta: dict[str, str] = field(default_factory=dict, hash=False, compare=True)
    status: str = "passing"
    """passing, warning, critical or maintenance: the worst of its checks (node and
    service); maintenance when a maintenance check is on, as Consul's AggregatedStatus."""

    @property
    def route_path(self) -> str:
        return self.meta.get("route_path", "")

    @property
    def route_host(self) -> str:
        return self.meta.get("route_host", "")

    @property
    def strip_prefix(self) -> bool:
        return self.meta.get("route_strip_prefix", "").lower() == "true"

    @property
    def mtls(self) -> bool:
        """It serves mutual TLS with the catalog's certificates (the SDK with identity on
        says so in its meta)."""
        return self.meta.get("mtls", "").lower() == "true"


@dataclass(frozen=True)
class KeyPair:
    path: str
    """The whole key, `app/config/limit`."""
    key: str
    """Relative to the prefix asked for, `limit`."""
    value: str


_RANK = {"passing": 0, "warning": 1, "critical": 2, "maintenance": 3}


def service_names(data: Any) -> list[ServiceName]:
    """/v1/catalog/services: {name: [tags]}."""
    if not isinstance(data, dict):
        return []
    return [ServiceName(name, tuple(tags or ())) for name, tags in sorted(data.items())]


_MAINTENANCE = ("_service_maintenance:", "_node_maintenance")
"""Consul's maintenance checks (critical, by these IDs): the instance is being taken out
on purpose, not failing."""


def _rank(check: Any) -> int:
    if str(check.get("CheckID", "")).startswith(_MAINTENANCE):
        return _RANK["maintenance"]
    return _RANK.get(str(check.get("Status", "")), 2)


def instances(data: Any) -> list[ServiceInstance]:
    """/v1/health/service/<name>: one entry per instance, with its node and checks."""
    result = []
    for entry in data or ():
        svc = entry.get("Service") or {}
        node = entry.get("Node") or {}
        worst = max((_rank(c) for c in entry.get("Checks") or ()), default=0)
        status = next(name for name, rank in _RANK.items() if rank == worst)
        result.append(
            ServiceInstance(
                id=str(svc.get("ID") or svc.get("Service") or ""),
                name=str(svc.get("Service") or ""),
                address=str(svc.get("Address") or node.get("Address") or ""),
                port=int(svc.get("Port") or 0),
                node=str(node.get("Node") or ""),
                tags=tuple(svc.get("Tags") or ()),
                meta={str(k): str(v) for k, v in (svc.get("Meta") or {}).items()},
                status=status,
            )
        )
    result.sort(key=lambda i: (i.address, i.port, i.id))
    return result


def _decode(raw: Any) -> str:
    if not raw:
        return ""
    return base64.b64decode(raw).decode("utf-8", errors="replace")


def key_value(data: Any) -> str | None:
    """/v1/kv/<key>: the value, None when the key does not exist."""
    if not data:
        return None
    return _decode(data[0].get("Value"))


def key_pairs(data: Any, prefix: str) -> list[KeyPair]:
    """/v1/kv/<prefix>?recurse: every key under the prefix, sorted."""
    pairs = []
    for entry in data or ():
        path = str(entry.get("Key", ""))
        if path.endswith("/"):
            continue  # a folder marker, not a value
        pairs.append(KeyPair(path, path[len(prefix) :].lstrip("/"), _decode(entry.get("Value"))))
    return sorted(pairs, key=lambda p: p.path)


@dataclass(frozen=True)
class CaLeaf:
    """A service's certificate from the catalog's CA (consul-template's `caLeaf`)."""

    service: str
    serial: str
    cert_pem: str
    private_key_pem: str = field(repr=False)
    valid_before: str = ""


def ca_roots(data: Any) -> str:
    """/v1/agent/connect/ca/roots: every root certificate, as one PEM bundle."""
    roots = (data or {}).get("Roots") or ()
    return "".join(str(r.get("RootCert", "")) for r in roots)


def ca_leaf(data: Any) -> CaLeaf | None:
    """/v1/agent/connect/ca/leaf/<service>."""
    if not isinstance(data, dict) or not data.get("CertPEM"):
        return None
    return CaLeaf(
        service=str(data.get("Service", "")),
        serial=str(data.get("SerialNumber", "")),
        cert_pem=str(data["CertPEM"]),
        private_key_pem=str(data.get("PrivateKeyPEM", "")),
        valid_before=str(data.get("ValidBefore", "")),
    )
