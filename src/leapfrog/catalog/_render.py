"""Records to Consul's exact JSON shapes (CamelCase keys, never-null lists)."""

from __future__ import annotations

import base64
from typing import Any

from leapfrog.catalog._model import Check, KVEntry, Service
from leapfrog.catalog._sessions import Session
from leapfrog.catalog._store import Store
from leapfrog.shared.durations import format_duration

__all__ = [
    "agent_service",
    "catalog_service",
    "check_json",
    "health_service",
    "kv_json",
    "node_json",
    "session_json",
]


def _weights(svc: Service) -> dict[str, int]:
    return {"Passing": svc.weight_passing, "Warning": svc.weight_warning}


def node_json(store: Store) -> dict[str, Any]:
    return {
        "ID": store.node_id,
        "Node": store.node_name,
        "Address": store.node_address,
        "Datacenter": store.datacenter,
        "TaggedAddresses": {"lan": store.node_address, "wan": store.node_address},
        "Meta": dict(store.node_meta),
        "CreateIndex": store.node_index[0],
        "ModifyIndex": store.node_index[1],
    }


def agent_service(store: Store, svc: Service) -> dict[str, Any]:
    return {
        "ID": svc.id,
        "Service": svc.name,
        "Tags": list(svc.tags),
        "Meta": dict(svc.meta or {}),
        "Port": svc.port,
        "Address": svc.address,
        "TaggedAddresses": dict(svc.tagged_addresses or {}),
        "Weights": _weights(svc),
        "EnableTagOverride": svc.enable_tag_override,
        "Datacenter": store.datacenter,
    }


def health_service(svc: Service) -> dict[str, Any]:
    return {
        "ID": svc.id,
        "Service": svc.name,
        "Tags": list(svc.tags),
        "Address": svc.address,
        "TaggedAddresses": dict(svc.tagged_addresses or {}),
        "Meta": dict(svc.meta or {}),
        "Port": svc.port,
        "Weights": _weights(svc),
        "EnableTagOverride": svc.enable_tag_override,
        "CreateIndex": svc.create_index,
        "ModifyIndex": svc.modify_index,
    }


def catalog_service(store: Store, svc: Service) -> dict[str, Any]:
    return {
        "ID": store.node_id,
        "Node": store.node_name,
        "Address": store.node_address,
        "Datacenter": store.datacenter,
        "TaggedAddresses": {"lan": store.node_address, "wan": store.node_address},
        "NodeMeta": dict(store.node_meta),
        "ServiceKind": "",
        "ServiceID": svc.id,
        "ServiceName": svc.name,
        "ServiceTags": list(svc.tags),
        "ServiceAddress": svc.address,
        "ServiceTaggedAddresses": dict(svc.tagged_addresses or {}),
        "ServiceWeights": _weights(svc),
        "ServiceMeta": dict(svc.meta or {}),
        "ServicePort": svc.port,
        "ServiceEnableTagOverride": svc.enable_tag_override,
        "CreateIndex": svc.create_index,
        "ModifyIndex": svc.modify_index,
    }


def _go_duration(seconds: float) -> str:
    return format_duration(seconds) if seconds else ""


def _definition(check: Check) -> dict[str, Any]:
    d = check.definition
    if d is None:
        return {}
    data: dict[str, Any] = {
        "Interval": _go_duration(d.interval),
        "Timeout": _go_duration(d.timeout) if d.kind != "ttl" else "",
        "DeregisterCriticalServiceAfter": _go_duration(check.deregister_after),
    }
    if d.kind == "http":
        data.update(HTTP=d.http, Method=d.method, Header={k: list(v) for k, v in d.header.items()})
        data.update(Body=d.body, TLSSkipVerify=d.tls_skip_verify)
    elif d.kind == "tcp":
        data["TCP"] = d.tcp
    else:
        data["TTL"] = _go_duration(d.ttl or 0.0)
    return data


def check_json(store: Store, check: Check) -> dict[str, Any]:
    svc = store.services.get(check.service_id) if check.service_id else None
    d = check.definition
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
        "Type": check.kind,
        "Interval": _go_duration(d.interval) if d else "",
        "Timeout": _go_duration(d.timeout) if d and d.kind != "ttl" else "",
        "ExposedPort": 0,
        "Definition": _definition(check),
        "CreateIndex": check.create_index,
        "ModifyIndex": check.modify_index,
    }


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
