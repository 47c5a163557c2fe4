"""What a stored record may hold: checked before a record enters the store, and on load.

The parsers of request bodies refuse bad input with Consul's texts; this is the last gate
behind them, the same for every way in (agent API, catalog API, sessions, KV, txn, and
the journal and snapshot on start). A record that passes it can always be rendered as
JSON, as DNS and in error texts: numbers are finite and in range, strings encode as
UTF-8, maps and lists hold what their readers expect. A record from disk that fails is
quarantined by the loader (`_persist`), never served.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from leapfrog.catalog._body import BadRequest
from leapfrog.catalog._model import Check, KVEntry, Service

if TYPE_CHECKING:  # _sessions checks its records here: no import back at run time
    from leapfrog.catalog._sessions import Session

__all__ = ["InvalidRecord", "check_check", "check_kv", "check_service", "check_session"]

_UINT64 = 2**64 - 1
_MAX_SECONDS = 9.2e9
"""Go's time.Duration limit (about 292 years)."""
_STATUSES = ("passing", "warning", "critical")


class InvalidRecord(BadRequest):
    """A record that must not be stored: a 400 from the API, a quarantine on load."""

    def __init__(self, text: str) -> None:
        super().__init__(f"Invalid record: {text}")


def _text(value: object, name: str, *, required: bool = False) -> None:
    if not isinstance(value, str):
        raise InvalidRecord(f"{name} must be a string")
    if required and not value:
        raise InvalidRecord(f"{name} must not be empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRecord(f"{name} is not valid Unicode") from None


def _integer(value: object, name: str, low: int = 0, high: int = _UINT64) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRecord(f"{name} must be an integer from {low} to {high}")


def _seconds(value: object, name: str, high: float = _MAX_SECONDS) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRecord(f"{name} must be a number of seconds")
    if not math.isfinite(value) or not 0 <= value <= high:
        raise InvalidRecord(f"{name} must be a finite number of seconds from 0 to {high:g}")


def _texts(values: object, name: str) -> None:
    if not isinstance(values, tuple | list):
        raise InvalidRecord(f"{name} must be a list of strings")
    for value in values:
        _text(value, name)


def _text_map(values: object, name: str) -> None:
    if not isinstance(values, dict):
        raise InvalidRecord(f"{name} must be an object of strings")
    for key, value in values.items():
        _text(key, f"{name} key")
        _text(value, f"{name}[{key!r}]")


def _json(value: object, name: str, depth: int = 0) -> None:
    """Plain JSON data: finite numbers, encodable strings, not nested without end."""
    if depth > 32:
        raise InvalidRecord(f"{name} is nested too deeply")
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRecord(f"{name} holds a number that is not finite")
    elif isinstance(value, str):
        _text(value, name)
    elif isinstance(value, list | tuple):
        for item in value:
            _json(item, name, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _text(key, f"{name} key")
            _json(item, name, depth + 1)
    else:
        raise InvalidRecord(f"{name} holds a {type(value).__name__}")


def _indexes(record: Service | Check | Session | KVEntry) -> None:
    _integer(record.create_index, "CreateIndex")
    _integer(record.modify_index, "ModifyIndex")


def check_service(service: Service) -> None:
    _text(service.id, "ID", required=True)
    _text(service.name, "Name", required=True)
    _texts(service.tags, "Tags")
    _text(service.address, "Address")
    _integer(service.port, "Port", 0, 65535)
    if service.meta is not None:
        _text_map(service.meta, "Meta")
    if service.tagged_addresses is not None:
        if not isinstance(service.tagged_addresses, dict):
            raise InvalidRecord("TaggedAddresses must be an object")
        _json(service.tagged_addresses, "TaggedAddresses")
    _integer(service.weight_passing, "Weights.Passing", 0, 65535)
    _integer(service.weight_warning, "Weights.Warning", 0, 65535)
    if not isinstance(service.enable_tag_override, bool):
        raise InvalidRecord("EnableTagOverride must be true or false")
    _indexes(service)


def check_check(check: Check) -> None:
    _text(check.id, "CheckID", required=True)
    _text(check.name, "Name")
    if check.status not in _STATUSES:
        raise InvalidRecord(f"Status must be one of {', '.join(_STATUSES)}")
    _text(check.service_id, "ServiceID")
    _text(check.notes, "Notes")
    _text(check.output, "Output")
    _seconds(check.deregister_after, "DeregisterCriticalServiceAfter")
    _indexes(check)
    definition = check.definition
    if definition is None:
        return
    if definition.check_id != check.id:
        raise InvalidRecord("the definition belongs to another check")
    if definition.kind not in ("http", "tcp", "ttl"):
        raise InvalidRecord("a check is HTTP, TCP or TTL")
    for name, value in (("HTTP", definition.http), ("TCP", definition.tcp)):
        if value is not None:
            _text(value, name)
    _text(definition.method, "Method")
    _text(definition.body, "Body")
    if not isinstance(definition.header, dict):
        raise InvalidRecord("Header must be an object of string lists")
    for key, values in definition.header.items():
        _text(key, "Header key")
        _texts(values, f"Header[{key!r}]")
    if not isinstance(definition.tls_skip_verify, bool):
        raise InvalidRecord("TLSSkipVerify must be true or false")
    if definition.ttl is not None:
        _seconds(definition.ttl, "TTL")
    _seconds(definition.interval, "Interval")
    _seconds(definition.timeout, "Timeout")
    for name in ("success_before_passing", "failures_before_warning", "failures_before_critical"):
        _integer(getattr(definition, name), name, 0, 2**31 - 1)
    _integer(definition.output_max_size, "OutputMaxSize", 0, 1 << 20)


def check_session(session: Session) -> None:
    _text(session.id, "ID", required=True)
    _text(session.node, "Node", required=True)
    _text(session.name, "Name")
    if session.behavior not in ("release", "delete"):
        raise InvalidRecord("Behavior must be release or delete")
    _seconds(session.lock_delay, "LockDelay")
    _text(session.ttl, "TTL")
    _seconds(session.ttl_seconds, "TTL seconds")
    _texts(session.node_checks, "NodeChecks")
    _texts(session.service_checks, "ServiceChecks")
    _indexes(session)


def check_kv(entry: KVEntry) -> None:
    _text(entry.key, "Key")
    if not isinstance(entry.value, bytes):
        raise InvalidRecord("Value must be bytes")
    _integer(entry.flags, "Flags")
    _integer(entry.lock_index, "LockIndex")
    _text(entry.session, "Session")
    _indexes(entry)
