"""Policies, roles and tokens made through the ACL API, kept as the rest of the state is.

Consul's objects, with Consul's field names (`structs.ACLPolicy`, `ACLRole`, `ACLToken`):
a token links policies and roles by ID and carries service identities; a role links
policies and carries service identities too. Every change is one journal record and
the whole set is in each snapshot (`dump`/`restore`), so what the API made survives a
kill -9; the files are the journal's (0600, secrets included, as Consul's raft data).

A token resolves to one `Authorizer`: the rules of its policies, of its roles' policies
and of its service identities, merged (`Rules.merge`). Authorizers are cached by the
token's secret and the cache is dropped on any change, so a policy edited now governs
the next request. An expired token is not found, as in Consul.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leapfrog.catalog._acl import AclError, Authorizer, Rules, service_identity_rules
from leapfrog.catalog._index import IndexLog

__all__ = [
    "ACL_TOPIC",
    "GLOBAL_MANAGEMENT_ID",
    "AclState",
    "Policy",
    "Role",
    "Token",
    "go_time",
]

ACL_TOPIC = "acl"
GLOBAL_MANAGEMENT_ID = "00000000-0000-0000-0000-000000000001"
GLOBAL_MANAGEMENT_RULES = (
    'acl = "write"\nagent_prefix "" { policy = "write" }\nevent_prefix "" { policy = "write" }\n'
    'key_prefix "" { policy = "write" }\nkeyring = "write"\nnode_prefix "" { policy = "write" }\n'
    'operator = "write"\nmesh = "write"\npeering = "write"\n'
    'query_prefix "" { policy = "write" }\nservice_prefix "" { policy = "write" }\n'
    'session_prefix "" { policy = "write" }'
)
"""What Consul's builtin policy says (the management flag is what grants it here)."""
_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,128}$")
_SERVICE_NAME = re.compile(r"^[a-z0-9]([a-z0-9\-_]*[a-z0-9])?$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def go_time(moment: float) -> str:
    """RFC 3339 with nanoseconds, as Go's time.Time encodes to JSON."""
    when = datetime.fromtimestamp(moment, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond:06d}000Z"


def _hash(*parts: Any) -> str:
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return base64.b64encode(digest).decode()


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@dataclass
class Policy:
    id: str
    name: str
    description: str = ""
    rules_text: str = ""
    datacenters: list[str] = field(default_factory=list)
    create_index: int = 0
    modify_index: int = 0
    rules: Rules = field(default_factory=Rules, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Name": self.name,
            "Description": self.description,
            "Rules": self.rules_text,
            "Datacenters": self.datacenters or None,
            "Hash": _hash(self.name, self.description, self.rules_text, self.datacenters),
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }

    def stub(self) -> dict[str, Any]:
        data = self.to_dict()
        del data["Rules"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        text = str(data.get("Rules") or "")
        return cls(
            id=str(data["ID"]),
            name=str(data["Name"]),
            description=str(data.get("Description") or ""),
            rules_text=text,
            datacenters=[str(d) for d in data.get("Datacenters") or []],
            create_index=int(data.get("CreateIndex", 0)),
            modify_index=int(data.get("ModifyIndex", 0)),
            rules=Rules.parse_text(text),
        )


def _identities(items: list[str]) -> list[dict[str, Any]] | None:
    return [{"ServiceName": name} for name in items] or None


@dataclass
class Role:
    id: str
    name: str
    description: str = ""
    policies: list[str] = field(default_factory=list)
    """Policy IDs."""
    service_identities: list[str] = field(default_factory=list)
    create_index: int = 0
    modify_index: int = 0

    def record(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Name": self.name,
            "Description": self.description,
            "Policies": self.policies,
            "ServiceIdentities": self.service_identities,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Role:
        return cls(
            id=str(data["ID"]),
            name=str(data["Name"]),
            description=str(data.get("Description") or ""),
            policies=[str(p) for p in data.get("Policies") or []],
            service_identities=[str(s) for s in data.get("ServiceIdentities") or []],
            create_index=int(data.get("CreateIndex", 0)),
            modify_index=int(data.get("ModifyIndex", 0)),
        )


@dataclass
class Token:
    accessor: str
    secret: str
    description: str = ""
    policies: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    service_identities: list[str] = field(default_factory=list)
    local: bool = False
    create_time: float = 0.0
    expiration_time: float | None = None
    create_index: int = 0
    modify_index: int = 0

    def record(self) -> dict[str, Any]:
        return {
            "AccessorID": self.accessor,
            "SecretID": self.secret,
            "Description": self.description,
            "Policies": self.policies,
            "Roles": self.roles,
            "ServiceIdentities": self.service_identities,
            "Local": self.local,
            "CreateTime": self.create_time,
            "ExpirationTime": self.expiration_time,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Token:
        expires = data.get("ExpirationTime")
        return cls(
            accessor=str(data["AccessorID"]),
            secret=str(data["SecretID"]),
            description=str(data.get("Description") or ""),
            policies=[str(p) for p in data.get("Policies") or []],
            roles=[str(r) for r in data.get("Roles") or []],
            service_identities=[str(s) for s in data.get("ServiceIdentities") or []],
            local=bool(data.get("Local", False)),
            create_time=float(data.get("CreateTime", 0.0)),
            expiration_time=float(expires) if expires is not None else None,
            create_index=int(data.get("CreateIndex", 0)),
            modify_index=int(data.get("ModifyIndex", 0)),
        )

    def expired(self, now: float) -> bool:
        return self.expiration_time is not None and now >= self.expiration_time


class AclState:
    """The API's policies, roles and tokens; `log` allocates indexes and journals."""

    def __init__(self, log: IndexLog, clock: Callable[[], float] = time.time) -> None:
        self.log = log
        self.clock = clock
        self.policies: dict[str, Policy] = {}
        self.roles: dict[str, Role] = {}
        self.tokens: dict[str, Token] = {}
        """By AccessorID."""
        self._by_secret: dict[bytes, Token] = {}
        self._authz: dict[bytes, Authorizer] = {}
        self.policies[GLOBAL_MANAGEMENT_ID] = Policy(
            GLOBAL_MANAGEMENT_ID,
            "global-management",
            "Builtin Policy that grants unlimited access",
            GLOBAL_MANAGEMENT_RULES,
            create_index=1,
            modify_index=1,
        )

    # -- lookups --------------------------------------------------------------------------

    def policy_named(self, name: str) -> Policy | None:
        return next((p for p in self.policies.values() if p.name == name), None)

    def role_named(self, name: str) -> Role | None:
        return next((r for r in self.roles.values() if r.name == name), None)

    def token_by_secret(self, secret: str) -> Token | None:
        token = self._by_secret.get(_digest(secret))
        if token is None or token.expired(self.clock()):
            return None
        return token

    def resolve(self, secret: str) -> Authorizer | None:
        """The authorizer of an API-made token, None when no live token has `secret`."""
        key = _digest(secret)
        token = self._by_secret.get(key)
        if token is None or token.expired(self.clock()):
            return None
        authz = self._authz.get(key)
        if authz is None:
            if self.management_linked(token):
                authz = Authorizer(token.accessor, management=True)
            else:
                authz = Authorizer(token.accessor, self._rules_of(token))
            self._authz[key] = authz
        return authz

    def _rules_of(self, token: Token) -> Rules:
        parts: list[Rules] = []
        policy_ids = list(token.policies)
        identities = list(token.service_identities)
        for role_id in token.roles:
            role = self.roles.get(role_id)
            if role is not None:
                policy_ids += role.policies
                identities += role.service_identities
        for policy_id in policy_ids:
            policy = self.policies.get(policy_id)
            if policy is not None:
                parts.append(policy.rules)
        parts += [service_identity_rules(name) for name in identities]
        return Rules.merge(parts)

    def management_linked(self, token: Token) -> bool:
        return GLOBAL_MANAGEMENT_ID in token.policies or any(
            GLOBAL_MANAGEMENT_ID in (self.roles[r].policies if r in self.roles else [])
            for r in token.roles
        )

    # -- views ----------------------------------------------------------------------------

    def policy_links(self, ids: Iterable[str]) -> list[dict[str, str]] | None:
        links = [{"ID": i, "Name": self.policies[i].name} for i in ids if i in self.policies]
        return links or None

    def role_view(self, role: Role) -> dict[str, Any]:
        return {
            "ID": role.id,
            "Name": role.name,
            "Description": role.description,
            "Policies": self.policy_links(role.policies),
            "ServiceIdentities": _identities(role.service_identities),
            "Hash": _hash(role.name, role.description, role.policies, role.service_identities),
            "CreateIndex": role.create_index,
            "ModifyIndex": role.modify_index,
        }

    def token_view(self, token: Token, show_secret: bool = True) -> dict[str, Any]:
        roles = [{"ID": r, "Name": self.roles[r].name} for r in token.roles if r in self.roles]
        view: dict[str, Any] = {
            "AccessorID": token.accessor,
            "SecretID": token.secret if show_secret else "<hidden>",
            "Description": token.description,
            "Policies": self.policy_links(token.policies),
            "Roles": roles or None,
            "ServiceIdentities": _identities(token.service_identities),
            "Local": token.local,
            "CreateTime": go_time(token.create_time),
            "Hash": _hash(token.description, token.policies, token.roles, token.service_identities),
            "CreateIndex": token.create_index,
            "ModifyIndex": token.modify_index,
        }
        if token.expiration_time is not None:
            view["ExpirationTime"] = go_time(token.expiration_time)
        return {k: v for k, v in view.items() if v is not None}

    # -- changes --------------------------------------------------------------------------

    def _changed(self) -> int:
        self._authz.clear()
        return self.log.next((ACL_TOPIC,))

    def set_policy(self, policy: Policy) -> Policy:
        index = self._changed()
        old = self.policies.get(policy.id)
        policy.create_index = old.create_index if old else index
        policy.modify_index = index
        self.policies[policy.id] = policy
        self.log.record({"o": "acl", "k": "policy", "v": policy.to_dict()})
        return policy

    def delete_policy(self, policy_id: str) -> None:
        if self.policies.pop(policy_id, None) is None:
            return
        self._changed()
        self.log.record({"o": "acl-", "k": "policy", "id": policy_id})

    def set_role(self, role: Role) -> Role:
        index = self._changed()
        old = self.roles.get(role.id)
        role.create_index = old.create_index if old else index
        role.modify_index = index
        self.roles[role.id] = role
        self.log.record({"o": "acl", "k": "role", "v": role.record()})
        return role

    def delete_role(self, role_id: str) -> None:
        if self.roles.pop(role_id, None) is None:
            return
        self._changed()
        self.log.record({"o": "acl-", "k": "role", "id": role_id})

    def set_token(self, token: Token) -> Token:
        index = self._changed()
        old = self.tokens.get(token.accessor)
        if old is not None:
            self._by_secret.pop(_digest(old.secret), None)
        token.create_index = old.create_index if old else index
        token.modify_index = index
        self._link_token(token)
        self.log.record({"o": "acl", "k": "token", "v": token.record()})
        return token

    def delete_token(self, accessor: str) -> None:
        token = self.tokens.pop(accessor, None)
        if token is None:
            return
        self._by_secret.pop(_digest(token.secret), None)
        self._changed()
        self.log.record({"o": "acl-", "k": "token", "id": accessor})

    def _link_token(self, token: Token) -> None:
        self.tokens[token.accessor] = token
        self._by_secret[_digest(token.secret)] = token

    # -- persistence ----------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        return {
            "policies": [p.to_dict() for p in self.policies.values()],
            "roles": [r.record() for r in self.roles.values()],
            "tokens": [t.record() for t in self.tokens.values()],
        }

    def restore(self, data: dict[str, Any]) -> None:
        for item in data.get("policies", []):
            self.replay({"o": "acl", "k": "policy", "v": item})
        for item in data.get("roles", []):
            self.replay({"o": "acl", "k": "role", "v": item})
        for item in data.get("tokens", []):
            self.replay({"o": "acl", "k": "token", "v": item})

    def replay(self, record: dict[str, Any]) -> None:
        """A journal record (`acl` or `acl-`); raises on one of the wrong shape."""
        kind, removed = record["k"], record["o"] == "acl-"
        self._authz.clear()
        if kind == "policy":
            if removed:
                self.policies.pop(str(record["id"]), None)
            else:
                try:
                    policy = Policy.from_dict(record["v"])
                except AclError as exc:
                    raise ValueError(str(exc)) from None
                self.policies[policy.id] = policy
        elif kind == "role":
            if removed:
                self.roles.pop(str(record["id"]), None)
            else:
                role = Role.from_record(record["v"])
                self.roles[role.id] = role
        elif kind == "token":
            old = self.tokens.pop(str(record["id"] if removed else record["v"]["AccessorID"]), None)
            if old is not None:
                self._by_secret.pop(_digest(old.secret), None)
            if not removed:
                self._link_token(Token.from_record(record["v"]))
        else:
            raise ValueError(f"unknown ACL record kind {kind!r}")


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def valid_service_name(name: str) -> bool:
    return bool(_SERVICE_NAME.match(name))


def valid_uuid(text: str) -> bool:
    return bool(_UUID.match(text))


def new_id() -> str:
    return str(uuid.uuid4())
