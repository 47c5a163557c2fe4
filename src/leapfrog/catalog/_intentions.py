"""Consul's service intentions: who may call whom, kept as the rest of the state is.

An intention says that a source service may (`allow`) or may not (`deny`) open
connections to a destination service; either side may be the wildcard `*`. As in
Consul's CE (one namespace, `default`), the most specific intention decides: its
precedence is 9 for exact source and destination, 8 for `* -> exact`, 6 for
`exact -> *` and 5 for `* -> *` (`structs.Intention.UpdatePrecedence`); ties break on
the names. What no intention matches is decided by the default policy: Consul's
`default_intention_policy` when set, else the ACL default (deny with ACL on, allow with
ACL off).

Every change is one journal record (`ixn` / `ixn-`) and the whole set is in each
snapshot, so intentions survive a kill -9. `intentions_from_callers` turns a plain
"service -> the callers it accepts" declaration into the intentions that grant it.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leapfrog.catalog._acl_state import go_time
from leapfrog.catalog._index import IndexLog

__all__ = [
    "INTENTIONS_TOPIC",
    "WILDCARD",
    "Decision",
    "Intention",
    "IntentionError",
    "IntentionState",
    "intentions_from_callers",
    "precedence",
]

INTENTIONS_TOPIC = "intentions"
WILDCARD = "*"
DEFAULT_NS = "default"
_META_MAX_PAIRS = 64
_META_KEY_MAX = 128
_META_VALUE_MAX = 512
_ACTIONS = ("allow", "deny")


class IntentionError(ValueError):
    """An intention Consul would refuse; the text says every problem found."""


def precedence(source: str, destination: str) -> int:
    """Consul's precedence in one namespace: exact destinations first, then exact sources."""
    top = 6 if destination == WILDCARD else 9
    return top - (1 if source == WILDCARD else 0)


@dataclass
class Intention:
    source: str
    destination: str
    action: str
    id: str = ""
    """Set for intentions made through the legacy (ID-based) API only, as in Consul."""
    description: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    source_type: str = "consul"
    created_at: float = 0.0
    updated_at: float = 0.0
    create_index: int = 0
    modify_index: int = 0

    @property
    def precedence(self) -> int:
        return precedence(self.source, self.destination)

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.destination)

    def describe(self) -> str:
        """Consul's `Intention.String()`: `web => db (allow)`."""
        return f"{self.source} => {self.destination} ({self.action})"

    def matches_source(self, name: str) -> bool:
        return self.source in (WILDCARD, name)

    def matches_destination(self, name: str) -> bool:
        return self.destination in (WILDCARD, name)

    def to_dict(self) -> dict[str, Any]:
        """Consul's `structs.Intention` as its HTTP API answers it."""
        digest = hashlib.sha256(
            repr((self.source, self.destination, self.action, self.description, self.meta)).encode()
        ).digest()
        data: dict[str, Any] = {}
        if self.id:
            data["ID"] = self.id
        if self.description:
            data["Description"] = self.description
        data |= {
            "SourceNS": DEFAULT_NS,
            "SourceName": self.source,
            "DestinationNS": DEFAULT_NS,
            "DestinationName": self.destination,
            "SourcePartition": "default",
            "DestinationPartition": "default",
            "SourceType": self.source_type,
            "Action": self.action,
        }
        if self.meta:
            data["Meta"] = dict(self.meta)
        data |= {
            "Precedence": self.precedence,
            "CreatedAt": go_time(self.created_at),
            "UpdatedAt": go_time(self.updated_at),
            "Hash": base64.b64encode(digest).decode(),
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }
        return data

    def record(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Source": self.source,
            "Destination": self.destination,
            "Action": self.action,
            "Description": self.description,
            "Meta": self.meta,
            "SourceType": self.source_type,
            "CreatedAt": self.created_at,
            "UpdatedAt": self.updated_at,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Intention:
        meta = data.get("Meta") or {}
        if not isinstance(meta, dict):
            raise ValueError("an intention's Meta is an object")
        ixn = cls(
            source=str(data["Source"]),
            destination=str(data["Destination"]),
            action=str(data["Action"]),
            id=str(data.get("ID") or ""),
            description=str(data.get("Description") or ""),
            meta={str(k): str(v) for k, v in meta.items()},
            source_type=str(data.get("SourceType") or "consul"),
            created_at=float(data.get("CreatedAt", 0.0)),
            updated_at=float(data.get("UpdatedAt", 0.0)),
            create_index=int(data.get("CreateIndex", 0)),
            modify_index=int(data.get("ModifyIndex", 0)),
        )
        validate(ixn)
        return ixn


def validate(ixn: Intention) -> None:
    """Consul's checks of a legacy intention (`structs.Intention.Validate`), all at once."""
    problems: list[str] = []
    for what, name in (("SourceName", ixn.source), ("DestinationName", ixn.destination)):
        if not name:
            problems.append(f"{what} must be set")
        elif name != WILDCARD and WILDCARD in name:
            problems.append(f"{what}: wildcard character '*' cannot be used with partial values")
        elif "/" in name:
            problems.append(f"{what}: {name!r} is not a service name ('/' is not allowed)")
    if ixn.action not in _ACTIONS:
        problems.append("Action must be set to 'allow' or 'deny'")
    if ixn.source_type != "consul":
        problems.append("SourceType must be set to 'consul'")
    if len(ixn.description) > _META_VALUE_MAX:
        problems.append(f"Description exceeds maximum length {_META_VALUE_MAX}")
    if len(ixn.meta) > _META_MAX_PAIRS:
        problems.append(f"Meta exceeds maximum element count {_META_MAX_PAIRS}")
    for key, value in ixn.meta.items():
        if len(key) > _META_KEY_MAX:
            problems.append(f"Meta key {key!r} exceeds maximum length {_META_KEY_MAX}")
        if len(value) > _META_VALUE_MAX:
            problems.append(f"Meta value for key {key!r} exceeds maximum length {_META_VALUE_MAX}")
    if problems:
        raise IntentionError("; ".join(problems))


def _order(ixn: Intention) -> tuple[int, str, str]:
    return (-ixn.precedence, ixn.source, ixn.destination)


@dataclass(frozen=True)
class Decision:
    """What `authorize` decided and why (Consul's `Reason` text)."""

    allowed: bool
    reason: str
    intention: Intention | None = None


class IntentionState:
    """The intentions, keyed by (source, destination); `log` allocates indexes."""

    def __init__(self, log: IndexLog, clock: Callable[[], float] = time.time) -> None:
        self.log = log
        self.clock = clock
        self.by_key: dict[tuple[str, str], Intention] = {}

    # -- reads ----------------------------------------------------------------------------

    @property
    def index(self) -> int:
        return self.log.of(INTENTIONS_TOPIC)

    def all(self) -> list[Intention]:
        return sorted(self.by_key.values(), key=_order)

    def by_id(self, intention_id: str) -> Intention | None:
        return next((i for i in self.by_key.values() if i.id and i.id == intention_id), None)

    def match(self, by: str, name: str) -> list[Intention]:
        """The intentions that apply to `name` as a source or a destination, the one that
        decides first (Consul's `/v1/connect/intentions/match`)."""
        if by == "source":
            found = [i for i in self.by_key.values() if i.matches_source(name)]
        else:
            found = [i for i in self.by_key.values() if i.matches_destination(name)]
        return sorted(found, key=_order)

    def decide(self, source: str, destination: str, default_allow: bool) -> Decision:
        """Whether `source` may call `destination`, with Consul's reason text."""
        for ixn in self.match("destination", destination):
            if ixn.matches_source(source):
                return Decision(
                    ixn.action == "allow", f"Matched L4 intention: {ixn.describe()}", ixn
                )
        return Decision(default_allow, "Default behavior configured by ACLs")

    # -- changes --------------------------------------------------------------------------

    def upsert(self, ixn: Intention) -> Intention:
        """Create or replace the intention of (source, destination)."""
        validate(ixn)
        now = self.clock()
        old = self.by_key.get(ixn.key)
        index = self.log.next((INTENTIONS_TOPIC,))
        ixn.create_index = old.create_index if old else index
        ixn.created_at = old.created_at if old else now
        if old is not None and not ixn.id:
            ixn.id = old.id
        ixn.modify_index = index
        ixn.updated_at = now
        self.by_key[ixn.key] = ixn
        self.log.record({"o": "ixn", "v": ixn.record()})
        return ixn

    def create(self, ixn: Intention) -> Intention:
        """The legacy create: a new ID; refused when (source, destination) has one."""
        validate(ixn)
        existing = self.by_key.get(ixn.key)
        if existing is not None:
            raise IntentionError(f"duplicate intention found: {existing.describe()}")
        ixn.id = str(uuid.uuid4())
        return self.upsert(ixn)

    def delete(self, source: str, destination: str) -> bool:
        if self.by_key.pop((source, destination), None) is None:
            return False
        self.log.next((INTENTIONS_TOPIC,))
        self.log.record({"o": "ixn-", "s": source, "d": destination})
        return True

    # -- persistence ----------------------------------------------------------------------

    def dump(self) -> list[dict[str, Any]]:
        return [i.record() for i in self.by_key.values()]

    def restore(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.replay({"o": "ixn", "v": row})

    def replay(self, record: Mapping[str, Any]) -> None:
        """A journal record (`ixn` or `ixn-`); raises on one of the wrong shape."""
        if record["o"] == "ixn-":
            self.by_key.pop((str(record["s"]), str(record["d"])), None)
            return
        try:
            ixn = Intention.from_record(record["v"])
        except IntentionError as exc:
            raise ValueError(str(exc)) from None
        self.by_key[ixn.key] = ixn


def intentions_from_callers(callers: Mapping[str, Sequence[str]]) -> list[Intention]:
    """The intentions that let each service's declared callers in: `{"api": ["web"]}`
    is `web => api (allow)`. A caller of `*` allows every service. With the default
    policy deny (identity on), what is not declared stays refused."""
    made: dict[tuple[str, str], Intention] = {}
    for destination, sources in callers.items():
        for source in sources:
            ixn = Intention(
                source=source,
                destination=destination,
                action="allow",
                description="declared in the stack file (callers)",
                meta={"managed-by": "leapfrog"},
            )
            validate(ixn)
            made[ixn.key] = ixn
    return sorted(made.values(), key=_order)
