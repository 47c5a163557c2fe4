"""The store to and from its journal: a snapshot of everything, and replay of records.

Records are whole records (not deltas), so replaying one that the snapshot already
holds changes nothing. On load every record is checked as the API checks it
(`_records`); one that does not pass, or does not have the shape of a record at all, is
handed to `quarantine` (kept aside and reported) instead of entering the store, so a bad
record on disk can never break reads or the start-up.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterable
from typing import Any

from leapfrog.catalog._journal import Chunked
from leapfrog.catalog._model import Check, KVEntry, Service
from leapfrog.catalog._records import (
    InvalidRecord,
    check_check,
    check_kv,
    check_service,
    check_session,
)
from leapfrog.catalog._sessions import Session
from leapfrog.catalog._store import Store

__all__ = ["Quarantine", "capture_store", "dump_store", "restore_store"]

log = logging.getLogger("leapfrog.catalog")

Quarantine = Callable[[str, Any, str], None]
"""quarantine(where, record, problem): a record from disk that is not loaded."""

_BAD_SHAPE = (
    InvalidRecord,
    LookupError,
    TypeError,
    ValueError,
    AttributeError,
    ArithmeticError,
)


def dump_store(store: Store) -> dict[str, Any]:
    """The whole state as plain data."""
    state = capture_store(store)
    for key, value in state.items():
        if isinstance(value, Chunked):
            state[key] = [value.encode(item) for item in value.items]
    return state


def capture_store(store: Store) -> dict[str, Any]:
    """The state for `Journal.snapshot`: the instances and checks as references taken
    now, encoded over the next loop turns (10,000 instances are tens of ms of work, and
    the loop keeps serving meanwhile); the rest at once."""
    return {
        "log": store.log.dump(),
        "node": {"id": store.node_id, "meta": store.node_meta, "ix": list(store.node_index)},
        "services": Chunked(list(store.services.values()), Service.to_dict),
        "checks": Chunked(list(store.checks.values()), Check.to_dict),
        "kv": store.kv.dump(),
        "sessions": store.sessions.dump(),
        "acl": store.acl.dump(),
        "intentions": store.intentions.dump(),
    }


def _log_only(where: str, record: Any, problem: str) -> None:
    log.warning("catalog: skipped a bad record from %s: %s", where, problem)


def restore_store(
    store: Store,
    snapshot: dict[str, Any] | None,
    records: Iterable[dict[str, Any]],
    quarantine: Quarantine | None = None,
) -> None:
    report = quarantine or _log_only

    def load(where: str, data: Any, apply: Callable[[Any], None]) -> None:
        try:
            apply(data)
        except _BAD_SHAPE as exc:
            report(where, data, _problem(exc))

    if snapshot is not None:
        load("snapshot.json log", snapshot.get("log"), store.log.restore)
        load("snapshot.json node", snapshot.get("node"), lambda d: _node(store, d))
        for data in _rows(snapshot, "services", report):
            load("snapshot.json service", data, lambda d: _service(store, d))
        for data in _rows(snapshot, "checks", report):
            load("snapshot.json check", data, lambda d: _check(store, d))
        kv = snapshot.get("kv")
        for row in _rows(kv if isinstance(kv, dict) else {}, "entries", report):
            load("snapshot.json KV entry", row, store.kv.restore_entry)
        if isinstance(kv, dict):
            load("snapshot.json KV indexes", kv.get("last_change"), store.kv.restore_indexes)
        for data in _rows(snapshot, "sessions", report):
            load("snapshot.json session", data, lambda d: _session(store, d))
        acl = snapshot.get("acl")
        if acl is not None:
            load("snapshot.json ACL", acl, store.acl.restore)
        for data in _rows(snapshot, "intentions", report):
            load("snapshot.json intention", data, lambda d: store.intentions.restore([d]))
    for record in records:
        load("journal", record, lambda r: _replay(store, r))


def _rows(section: dict[str, Any], name: str, report: Quarantine) -> list[Any]:
    rows = section.get(name, [])
    if isinstance(rows, list):
        return rows
    report(f"snapshot.json {name}", rows, "not a list")
    return []


def _problem(exc: BaseException) -> str:
    if isinstance(exc, InvalidRecord):
        return exc.text
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    return f"{type(exc).__name__}: {exc}"


def _replay(store: Store, record: dict[str, Any]) -> None:
    kind = record.get("o")
    if kind == "idx":
        store.log.replay(record)
    elif kind == "node":
        _node(store, record)
    elif kind == "svc":
        _service(store, record["v"])
    elif kind == "svc-":
        if record["id"] in store.services:
            store.unlink_service(store.services[record["id"]])
    elif kind == "chk":
        _check(store, record["v"])
    elif kind == "chk-":
        if record["id"] in store.checks:
            store.unlink_check(store.checks[record["id"]])
    elif kind in ("ses", "ses-"):
        if kind == "ses":
            _session(store, record["v"])
        else:
            store.sessions.replay(record)
    elif kind in ("kv", "kv-", "kvtxn"):
        _kv(store, record)
    elif kind in ("acl", "acl-"):
        store.acl.replay(record)
    elif kind in ("ixn", "ixn-"):
        store.intentions.replay(record)
    else:
        raise InvalidRecord(f"unknown record kind {kind!r}")


def _node(store: Store, data: dict[str, Any]) -> None:
    node_id, meta, (created, modified) = data["id"], data["meta"], data["ix"]
    if not isinstance(node_id, str) or not isinstance(meta, dict):
        raise InvalidRecord("a node has a string id and an object of metadata")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise InvalidRecord("node metadata must be strings")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in (created, modified)):
        raise InvalidRecord("node indexes must be integers")
    store.node_id = node_id
    store.node_meta = dict(meta)
    store.node_index = (created, modified)


def _service(store: Store, data: dict[str, Any]) -> None:
    service = Service.from_dict(data)
    check_service(service)
    if service.id in store.services:
        store.unlink_service(store.services[service.id])
    store.link_service(service)


def _check(store: Store, data: dict[str, Any]) -> None:
    check = Check.from_dict(data)
    check_check(check)
    if check.status == "critical":
        check.critical_since = store.now()  # reaping restarts its count after a restart
    if check.id in store.checks:
        store.unlink_check(store.checks[check.id])
    store.link_check(check)


def _session(store: Store, data: dict[str, Any]) -> None:
    check_session(Session.from_dict(data))
    store.sessions.restore_one(data)


def _kv(store: Store, record: dict[str, Any]) -> None:
    """A KV record (or a transaction of them), checked in full before any of it applies."""
    inner = record["r"] if record["o"] == "kvtxn" else [record]
    for item in inner:
        if item["o"] == "kv":
            check_kv(_kv_entry(item))
        elif item["o"] == "kv-":
            if not isinstance(item["k"], str) or not isinstance(item["i"], int):
                raise InvalidRecord("a KV deletion has a string key and an integer index")
        else:
            raise InvalidRecord(f"unknown KV record kind {item['o']!r}")
    store.kv.replay(record)


def _kv_entry(item: dict[str, Any]) -> KVEntry:
    return KVEntry(
        item["k"],
        base64.b64decode(item["v"], validate=True),
        item["f"],
        create_index=item["c"],
        modify_index=item["m"],
        lock_index=item.get("l", 0),
        session=item.get("s", ""),
    )
