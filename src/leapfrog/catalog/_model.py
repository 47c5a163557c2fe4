"""The catalog's records: compact (slotted) and convertible to and from journal dicts."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from leapfrog.catalog._godur import format_go_duration
from leapfrog.catalog.checks.api import CheckDefinition, Status

__all__ = ["Check", "KVEntry", "Service", "definition_from_dict", "definition_to_dict"]


class Service:
    __slots__ = (
        "address",
        "address_tags",
        "create_index",
        "enable_tag_override",
        "id",
        "meta",
        "modify_index",
        "name",
        "port",
        "tagged_addresses",
        "tags",
        "weight_passing",
        "weight_warning",
    )

    def __init__(
        self,
        id: str,
        name: str,
        *,
        tags: tuple[str, ...] = (),
        address: str = "",
        port: int = 0,
        meta: dict[str, str] | None = None,
        tagged_addresses: dict[str, Any] | None = None,
        weight_passing: int = 1,
        weight_warning: int = 1,
        enable_tag_override: bool = False,
        address_tags: bool = False,
        create_index: int = 0,
        modify_index: int = 0,
    ) -> None:
        self.id = id
        self.name = name
        self.tags = tags
        self.address = address
        self.port = port
        self.meta = meta or None  # None instead of {} saves memory on 10,000 instances
        self.tagged_addresses = tagged_addresses or None
        self.weight_passing = weight_passing
        self.weight_warning = weight_warning
        self.enable_tag_override = enable_tag_override
        self.address_tags = address_tags
        """Registered through the agent: its IP address is also tagged lan/wan_ipv4 (or
        _ipv6), as Consul's agent tags it (rendered, not stored: it costs a bool)."""
        self.create_index = create_index
        self.modify_index = modify_index

    def same_registration(self, other: Service) -> bool:
        return all(
            getattr(self, f) == getattr(other, f)
            for f in self.__slots__
            if f not in ("create_index", "modify_index")
        )

    def to_dict(self) -> dict[str, Any]:
        data = {f: getattr(self, f) for f in self.__slots__}
        data["tags"] = list(self.tags)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Service:
        data = dict(data)
        data["tags"] = tuple(data.get("tags", ()))
        return cls(**data)


class Check:
    """A check as Consul's catalog holds it. `check_type`, `interval` and `timeout` are
    Consul's `Type`, `Interval` and `Timeout` strings, fixed when the check is registered
    (Consul writes them differently for a service's check, a check registered alone and a
    catalog check); `shown_definition` is the `Definition` of a catalog check, as Consul
    renders it (agent checks have an empty one in Consul)."""

    __slots__ = (
        "check_type",
        "create_index",
        "critical_since",
        "definition",
        "deregister_after",
        "id",
        "interval",
        "modify_index",
        "name",
        "notes",
        "output",
        "service_id",
        "shown_definition",
        "status",
        "timeout",
    )

    def __init__(
        self,
        id: str,
        name: str,
        status: Status,
        service_id: str = "",
        *,
        notes: str = "",
        output: str = "",
        definition: CheckDefinition | None = None,
        deregister_after: float = 0.0,
        create_index: int = 0,
        modify_index: int = 0,
        critical_since: float | None = None,
        check_type: str = "",
        interval: str = "",
        timeout: str = "",
        shown_definition: dict[str, Any] | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.status: Status = status
        self.service_id = service_id
        self.notes = notes
        self.output = output
        self.definition = definition
        self.deregister_after = deregister_after
        self.create_index = create_index
        self.modify_index = modify_index
        self.critical_since = critical_since
        """Monotonic time the check turned critical (for reaping); not persisted."""
        self.check_type = check_type
        self.interval = interval
        self.timeout = timeout
        self.shown_definition = shown_definition or None

    @property
    def kind(self) -> str:
        return self.definition.kind if self.definition else ""

    def to_dict(self) -> dict[str, Any]:
        data = {f: getattr(self, f) for f in self.__slots__ if f != "critical_since"}
        data["definition"] = definition_to_dict(self.definition) if self.definition else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Check:
        data = dict(data)
        if data.get("definition") is not None:
            data["definition"] = definition_from_dict(data["definition"])
        if "check_type" not in data:  # written before these were kept: a service's check
            data.update(_shown_as_service_check(data["id"], data.get("definition")))
        return cls(**data)


class KVEntry:
    __slots__ = ("create_index", "flags", "key", "lock_index", "modify_index", "session", "value")

    def __init__(
        self,
        key: str,
        value: bytes,
        flags: int = 0,
        *,
        create_index: int = 0,
        modify_index: int = 0,
        lock_index: int = 0,
        session: str = "",
    ) -> None:
        self.key = key
        self.value = value
        self.flags = flags
        self.create_index = create_index
        self.modify_index = modify_index
        self.lock_index = lock_index
        self.session = session
        """The ID of the session holding the lock on this key; "" when unlocked."""


def _shown_as_service_check(check_id: str, definition: CheckDefinition | None) -> dict[str, str]:
    if definition is None:
        maintenance = check_id.startswith(("_service_maintenance:", "_node_maintenance"))
        return {"check_type": "maintenance" if maintenance else ""}
    interval = format_go_duration(definition.interval) if definition.kind != "ttl" else ""
    return {"check_type": definition.kind, "interval": interval}


def definition_to_dict(definition: CheckDefinition) -> dict[str, Any]:
    # Not dataclasses.asdict: its deep copy is the slowest part of a registration.
    data = {f.name: getattr(definition, f.name) for f in fields(definition)}
    data["header"] = {k: list(v) for k, v in definition.header.items()}
    return data


def definition_from_dict(data: dict[str, Any]) -> CheckDefinition:
    data = dict(data)
    data["header"] = {k: tuple(v) for k, v in data.get("header", {}).items()}
    return CheckDefinition(**data)
