"""Records to Consul's exact JSON shapes (CamelCase keys, never-null lists)."""

from __future__ import annotations

import base64
import functools
import ipaddress
from typing import Any

from leapfrog.catalog._metrics import CONSUL_VERSION
from leapfrog.catalog._model import Check, KVEntry, Service
from leapfrog.catalog._sessions import Session
from leapfrog.catalog._store import Store

__all__ = [
    "agent_health_check",
    "agent_service",
    "catalog_service",
    "check_json",
    "health_service",
    "kv_json",
    "node_json",
    "node_meta",
    "session_json",
]


def _weights(svc: Service) -> dict[str, int]:
    return {"Passing": svc.weight_passing, "Warning": svc.weight_warning}


def _node_tagged_addresses(store: Store) -> dict[str, str]:
    """Consul's node tagged addresses: lan and wan, and the same by address family."""
    address = store.node_address
    family = "ipv6" if ":" in address else "ipv4"
    return {"lan": address, f"lan_{family}": address, "wan": address, f"wan_{family}": address}


@functools.lru_cache(maxsize=4096)
def _ip_family(address: str) -> str:
    """ "ipv4", "ipv6" or "" (not an IP); cached: parsing an address costs more than the
    rest of a service's rendering, and a stack has few distinct addresses."""
    try:
        return "ipv4" if ipaddress.ip_address(address).version == 4 else "ipv6"
    except ValueError:
        return ""


def _address_tags(svc: Service) -> dict[str, Any]:
    """What Consul's agent adds to a service registered with an IP address: the tagged
    addresses lan_ipv4 and wan_ipv4 (lan_ipv6/wan_ipv6)."""
    family = _ip_family(svc.address)
    if not family:
        return {}
    tagged = {"Address": svc.address, "Port": svc.port}
    return {f"lan_{family}": tagged, f"wan_{family}": dict(tagged)}


def _with_tagged(data: dict[str, Any], key: str, svc: Service) -> dict[str, Any]:
    """The service's tagged addresses (the agent's own ones unless given); Consul omits
    the key when there are none (`omitempty`)."""
    tagged = {**_address_tags(svc), **(svc.tagged_addresses or {})} if svc.address_tags else {}
    tagged = tagged or dict(svc.tagged_addresses or {})
    if tagged:
        data[key] = tagged
    return data


def node_meta(store: Store) -> dict[str, str]:
    """The node's metadata with the keys Consul's agent always sets on its node (users
    cannot set `consul-` keys in Consul; here the agent's win)."""
    return {**store.node_meta, "consul-network-segment": "", "consul-version": CONSUL_VERSION}


def _no_proxy() -> dict[str, Any]:
    """A service's Connect proxy settings as Consul renders them when it has none."""
    return {"Mode": "", "MeshGateway": {}, "Expose": {}}


def node_json(store: Store) -> dict[str, Any]:
    return {
        "ID": store.node_id,
        "Node": store.node_name,
        "Address": store.node_address,
        "Datacenter": store.datacenter,
        "TaggedAddresses": _node_tagged_addresses(store),
        "Meta": node_meta(store),
        "CreateIndex": store.node_index[0],
        "ModifyIndex": store.node_index[1],
    }


def agent_service(store: Store, svc: Service) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ID": svc.id,
        "Service": svc.name,
        "Tags": list(svc.tags),
        "Meta": dict(svc.meta or {}),
        "Port": svc.port,
        "Address": svc.address,
    }
    _with_tagged(data, "TaggedAddresses", svc)
    data.update(
        Weights=_weights(svc),
        EnableTagOverride=svc.enable_tag_override,
        Datacenter=store.datacenter,
    )
    return data


def health_service(svc: Service) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ID": svc.id,
        "Service": svc.name,
        "Tags": list(svc.tags),
        "Address": svc.address,
    }
    _with_tagged(data, "TaggedAddresses", svc)
    data.update(
        Meta=dict(svc.meta or {}),
        Port=svc.port,
        Weights=_weights(svc),
        EnableTagOverride=svc.enable_tag_override,
        Proxy=_no_proxy(),
        Connect={},
        PeerName="",
        CreateIndex=svc.create_index,
        ModifyIndex=svc.modify_index,
    )
    return data


def catalog_service(store: Store, svc: Service) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ID": store.node_id,
        "Node": store.node_name,
        "Address": store.node_address,
        "Datacenter": store.datacenter,
        "TaggedAddresses": _node_tagged_addresses(store),
        "NodeMeta": node_meta(store),
        "ServiceKind": "",
        "ServiceID": svc.id,
        "ServiceName": svc.name,
        "ServiceTags": list(svc.tags),
        "ServiceAddress": svc.address,
    }
    _with_tagged(data, "ServiceTaggedAddresses", svc)
    data.update(
        ServiceWeights=_weights(svc),
        ServiceMeta=dict(svc.meta or {}),
        ServicePort=svc.port,
        ServiceSocketPath="",
        ServiceEnableTagOverride=svc.enable_tag_override,
        ServiceProxy=_no_proxy(),
        ServiceConnect={},
        ServiceLocality=None,
        CreateIndex=svc.create_index,
        ModifyIndex=svc.modify_index,
    )
    return data


def check_json(store: Store, check: Check) -> dict[str, Any]:
    """A check as Consul's catalog and agent render it (structs.HealthCheck): `Type`,
    `Interval` and `Timeout` as fixed at registration, `Definition` empty for agent checks
    and the sent definition, Consul-rendered, for catalog checks. Every duration in it
    parses with Go's time.ParseDuration, as HashiCorp's Go client requires."""
    svc = store.services.get(check.service_id) if check.service_id else None
    return {
        "Node": store.node_name,
        "CheckID": check.id,
        "Name": check.name,
        "Status": check.status,
        "Notes": check.notes,
        "Output": check.output,
        "ServiceID": check.service_id,
        "ServiceName": svc.name if svc else "",
        "ServiceTags": list(svc.tags) if svc else [],
        "Type": check.check_type,
        "Interval": check.interval,
        "Timeout": check.timeout,
        "ExposedPort": 0,
        "Definition": dict(check.shown_definition or {}),
        "CreateIndex": check.create_index,
        "ModifyIndex": check.modify_index,
    }


_EMPTY_API_DEFINITION: dict[str, Any] = {
    "Interval": "0s",
    "Timeout": "0s",
    "DeregisterCriticalServiceAfter": "0s",
    "HTTP": "",
    "Header": None,
    "Method": "",
    "Body": "",
    "TLSServerName": "",
    "TLSSkipVerify": False,
    "TCP": "",
    "TCPUseTLS": False,
    "UDP": "",
    "GRPC": "",
    "OSService": "",
    "GRPCUseTLS": False,
}


def agent_health_check(store: Store, check: Check) -> dict[str, Any]:
    """A check in /v1/agent/health/service/*: Consul copies a few fields into the Go
    client's own HealthCheck type there, so `Type` is empty, the indexes are 0 and the
    Definition is that type's zero value ("0s" durations)."""
    data = check_json(store, check)
    # The Go type has no Interval/Timeout of its own: they live in its Definition.
    del data["Interval"], data["Timeout"]
    data.update(Type="", Definition=dict(_EMPTY_API_DEFINITION), CreateIndex=0, ModifyIndex=0)
    return data


def kv_json(entry: KVEntry) -> dict[str, Any]:
    data: dict[str, Any] = {
        "LockIndex": entry.lock_index,
        "Key": entry.key,
        "Flags": entry.flags,
        "Value": base64.b64encode(entry.value).decode() if entry.value else None,
        "CreateIndex": entry.create_index,
        "ModifyIndex": entry.modify_index,
    }
    if entry.session:  # Consul's `Session` is omitempty: present only while locked
        data["Session"] = entry.session
    return data


def session_json(session: Session) -> dict[str, Any]:
    # Go's nil slices: Consul answers `null` for a session without node or service checks.
    service_checks = [{"ID": c, "Namespace": ""} for c in session.service_checks]
    return {
        "ID": session.id,
        "Name": session.name,
        "Node": session.node,
        "LockDelay": round(session.lock_delay * 1e9),
        "Behavior": session.behavior,
        "TTL": session.ttl,
        "NodeChecks": list(session.node_checks) or None,
        "ServiceChecks": service_checks or None,
        "CreateIndex": session.create_index,
        "ModifyIndex": session.modify_index,
    }
