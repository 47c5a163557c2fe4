"""The store to and from its journal: a snapshot of everything, and replay of records.

Records are whole records (not deltas), so replaying one that the snapshot already
holds changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from leapfrog.catalog._model import Check, Service
from leapfrog.catalog._store import Store

__all__ = ["dump_store", "restore_store"]


def dump_store(store: Store) -> dict[str, Any]:
    return {
        "log": store.log.dump(),
        "node": {"id": store.node_id, "meta": store.node_meta, "ix": list(store.node_index)},
        "services": [s.to_dict() for s in store.services.values()],
        "checks": [c.to_dict() for c in store.checks.values()],
        "kv": store.kv.dump(),
        "sessions": store.sessions.dump(),
    }


def restore_store(
    store: Store, snapshot: dict[str, Any] | None, records: Iterable[dict[str, Any]]
) -> None:
    if snapshot is not None:
        store.log.restore(snapshot["log"])
        _node(store, snapshot["node"])
        for data in snapshot["services"]:
            store.link_service(Service.from_dict(data))
        for data in snapshot["checks"]:
            _check(store, data)
        store.kv.restore(snapshot["kv"])
        for data in snapshot.get("sessions", []):
            store.sessions.restore_one(data)
    for record in records:
        _replay(store, record)


def _replay(store: Store, record: dict[str, Any]) -> None:
    kind = record.get("o")
    if kind == "idx":
        store.log.replay(record)
    elif kind == "node":
        _node(store, record)
    elif kind == "svc":
        service = Service.from_dict(record["v"])
        if service.id in store.services:
            store.unlink_service(store.services[service.id])
        store.link_service(service)
    elif kind == "svc-":
        if record["id"] in store.services:
            store.unlink_service(store.services[record["id"]])
    elif kind == "chk":
        _check(store, record["v"])
    elif kind == "chk-":
        if record["id"] in store.checks:
            store.unlink_check(store.checks[record["id"]])
    elif not store.sessions.replay(record):
        store.kv.replay(record)


def _node(store: Store, data: dict[str, Any]) -> None:
    store.node_id = data["id"]
    store.node_meta = dict(data["meta"])
    store.node_index = (int(data["ix"][0]), int(data["ix"][1]))


def _check(store: Store, data: dict[str, Any]) -> None:
    check = Check.from_dict(data)
    if check.status == "critical":
        check.critical_since = store.now()  # reaping restarts its count after a restart
    if check.id in store.checks:
        store.unlink_check(store.checks[check.id])
    store.link_check(check)
