"""ACL: tokens, the rules they carry, and what a rule set allows.

Consul's model, the part the catalog needs: a token resolves to an *authorizer* that
answers "may this token <read|write> <resource> <name>?". The resources are Consul's
(`service`, `node`, `key`, `session`, `agent`, plus `operator` and `acl`, which have no
name). Rules are Consul's JSON policy syntax, e.g.

    {"service_prefix": {"": {"policy": "read"}}, "key": {"app/config": {"policy": "write"}}}

An exact rule wins over prefix rules, the longest prefix wins among those, and what no
rule grants is denied (Consul's `default_policy = "deny"`). `write` implies `read`.
The management token may do everything; a request without a token is the anonymous
token, whose rules are empty unless anonymous reads were opted into.

Only tokens configured at start exist here (no ACL write API yet): the management token
and the named tokens of the tokens file (`AclConfig.from_file`). More of Consul's rules
language (`list`, intentions, templated policies) and token CRUD extend this module.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

__all__ = [
    "ANONYMOUS_ID",
    "NAMED_RESOURCES",
    "READ_ALL",
    "Access",
    "AclConfig",
    "AclError",
    "Authorizer",
    "NamedToken",
    "Rules",
    "UnknownToken",
    "accessor_of",
    "permission_denied",
]

ANONYMOUS_ID = "00000000-0000-0000-0000-000000000002"
"""Consul's fixed AccessorID of the anonymous token."""

NAMED_RESOURCES = ("service", "node", "key", "session", "agent")
"""Resources whose rules name what they apply to (`service "web"`, `key_prefix "app/"`)."""
_GLOBAL_RESOURCES = ("operator", "acl")
"""Resources with one level for everything (`"operator": "read"`)."""


class Access(IntEnum):
    DENY = 0
    READ = 1
    WRITE = 2

    @property
    def word(self) -> str:
        return self.name.lower()


_LEVELS = {"deny": Access.DENY, "read": Access.READ, "write": Access.WRITE}


class AclError(ValueError):
    """A rule set or a tokens file that does not say what it must; the text says where."""


class UnknownToken(Exception):
    """A token that no ACL knows: Consul's 403 `ACL not found`."""


@dataclass(frozen=True)
class _Grants:
    exact: Mapping[str, Access] = field(default_factory=dict)
    prefixes: tuple[tuple[str, Access], ...] = ()
    """Longest first, so the first match is the one that counts."""

    def level(self, name: str) -> Access:
        found = self.exact.get(name)
        if found is not None:
            return found
        for prefix, access in self.prefixes:
            if name.startswith(prefix):
                return access
        return Access.DENY

    def whole_prefix(self, prefix: str) -> Access:
        """The level every name under `prefix` has: the governing rule, lowered by any
        more specific rule under it (Consul's KeyWritePrefix for recursive deletes)."""
        level = self.level(prefix)
        for name, access in self.exact.items():
            if name.startswith(prefix):
                level = min(level, access)
        for other, access in self.prefixes:
            if other.startswith(prefix) and len(other) > len(prefix):
                level = min(level, access)
        return level


@dataclass(frozen=True)
class Rules:
    """A parsed rule set (one policy)."""

    named: Mapping[str, _Grants] = field(default_factory=dict)
    global_levels: Mapping[str, Access] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any, where: str = "rules") -> Rules:
        """Consul's JSON rules: `{"<resource>[_prefix]": {"<name>": {"policy": "read"}}}`
        for named resources, `{"operator": "read"}` for global ones."""
        if not isinstance(data, Mapping):
            raise AclError(f"{where}: expected an object of Consul rules")
        exact: dict[str, dict[str, Access]] = {}
        prefixes: dict[str, dict[str, Access]] = {}
        global_levels: dict[str, Access] = {}
        for key, value in data.items():
            resource, is_prefix = (
                (key[: -len("_prefix")], True) if key.endswith("_prefix") else (key, False)
            )
            if key in _GLOBAL_RESOURCES:
                global_levels[key] = _level(value, f"{where}.{key}")
                continue
            if resource not in NAMED_RESOURCES:
                known = [*NAMED_RESOURCES, *(f"{r}_prefix" for r in NAMED_RESOURCES)]
                raise AclError(
                    f"{where}: {key!r} is not a rule this catalog knows "
                    f"(known: {', '.join([*known, *_GLOBAL_RESOURCES])})"
                )
            if not isinstance(value, Mapping):
                raise AclError(f'{where}.{key}: expected {{"<name>": {{"policy": "read"}}}}')
            target = (prefixes if is_prefix else exact).setdefault(resource, {})
            for name, rule in value.items():
                policy = rule.get("policy") if isinstance(rule, Mapping) else None
                target[str(name)] = _level(policy, f"{where}.{key}.{name}.policy")
        named = {
            resource: _Grants(
                exact.get(resource, {}),
                tuple(sorted(prefixes.get(resource, {}).items(), key=lambda p: -len(p[0]))),
            )
            for resource in NAMED_RESOURCES
        }
        return cls(named, global_levels)

    def level(self, resource: str, name: str) -> Access:
        if resource in _GLOBAL_RESOURCES:
            return self.global_levels.get(resource, Access.DENY)
        grants = self.named.get(resource)
        return grants.level(name) if grants is not None else Access.DENY

    def whole_prefix(self, resource: str, prefix: str) -> Access:
        grants = self.named.get(resource)
        return grants.whole_prefix(prefix) if grants is not None else Access.DENY


def _level(value: Any, where: str) -> Access:
    if value == "list":
        raise AclError(f"{where}: 'list' is not supported yet; use 'read'")
    level = _LEVELS.get(value) if isinstance(value, str) else None
    if level is None:
        raise AclError(f"{where}: expected 'read', 'write' or 'deny', not {value!r}")
    return level


READ_ALL = Rules.parse(
    {f"{resource}_prefix": {"": {"policy": "read"}} for resource in NAMED_RESOURCES}
    | {"operator": "read"}
)
"""What anonymous reads grant when opted into: read everything, KV values included."""


@dataclass(frozen=True)
class Authorizer:
    """What one token may do. `accessor` names it in errors, never its secret."""

    accessor: str
    rules: Rules = field(default_factory=Rules)
    management: bool = False
    anonymous: bool = False

    def allows(self, resource: str, name: str, access: Access) -> bool:
        return self.management or self.rules.level(resource, name) >= access

    def allows_prefix(self, resource: str, prefix: str, access: Access) -> bool:
        """`access` on every name under `prefix` (a recursive delete needs this)."""
        return self.management or self.rules.whole_prefix(resource, prefix) >= access

    @property
    def cache_key(self) -> str:
        """Requests whose answers may be shared: the same token's."""
        return "*" if self.management else self.accessor


def permission_denied(authz: Authorizer, resource: str, access: Access, name: str = "") -> str:
    """Consul's text for a request its token may not make (answered 403)."""
    who = "anonymous token" if authz.anonymous else f"token with AccessorID '{authz.accessor}'"
    text = f"Permission denied: {who} lacks permission '{resource}:{access.word}'"
    if name and resource in NAMED_RESOURCES:
        text += f' on "{name}"'
    if authz.anonymous:
        text += ". The anonymous token is used implicitly when a request does not specify a token."
    return text


def accessor_of(secret: str) -> str:
    """A token's AccessorID, derived from its secret, so it is stable across restarts."""
    digest = hashlib.sha256(b"leapfrog-acl-accessor:" + secret.encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


@dataclass(frozen=True)
class NamedToken:
    """A token of the tokens file: its name (also its policy's), secret and rules."""

    name: str
    secret: str
    rules: Rules
    description: str = ""
    raw_rules: Mapping[str, Any] = field(default_factory=dict)
    """The rules as given, for /v1/acl/token/self."""

    @property
    def authorizer(self) -> Authorizer:
        return Authorizer(accessor_of(self.secret), self.rules)


@dataclass(frozen=True)
class AclConfig:
    """Everything ACL needs: the management token, the named tokens, and what the
    anonymous token may do. `dns` is the named token DNS lookups use (Consul's
    `acl.tokens.dns`); without one, DNS answers what the anonymous token may read."""

    management: str
    tokens: tuple[NamedToken, ...] = ()
    anonymous_read: bool = False

    DNS_TOKEN = "dns"

    def __post_init__(self) -> None:
        secrets = [self.management, *(t.secret for t in self.tokens)]
        if len(set(secrets)) != len(secrets):
            raise AclError("two tokens have the same secret; each needs its own")

    @property
    def anonymous(self) -> Authorizer:
        return Authorizer(
            ANONYMOUS_ID, READ_ALL if self.anonymous_read else Rules(), anonymous=True
        )

    def resolve(self, secret: str) -> Authorizer:
        """The authorizer of a request's token ("" is the anonymous token)."""
        if not secret:
            return self.anonymous
        given = secret.encode()
        # Every comparison runs, so the time taken does not tell which token matched.
        found: Authorizer | None = None
        if hmac.compare_digest(given, self.management.encode()):
            found = Authorizer(accessor_of(self.management), management=True)
        for token in self.tokens:
            if hmac.compare_digest(given, token.secret.encode()) and found is None:
                found = token.authorizer
        if found is None:
            raise UnknownToken
        return found

    def named(self, secret: str) -> NamedToken | None:
        for token in self.tokens:
            if hmac.compare_digest(secret.encode(), token.secret.encode()):
                return token
        return None

    @property
    def dns(self) -> Authorizer:
        for token in self.tokens:
            if token.name == self.DNS_TOKEN:
                return token.authorizer
        return self.anonymous

    @staticmethod
    def parse_tokens(data: Any, where: str) -> tuple[NamedToken, ...]:
        """`{"tokens": {"<name>": {"SecretID": "...", "Description": "...", "Rules": {...}}}}`"""
        if not isinstance(data, Mapping) or not isinstance(data.get("tokens"), Mapping):
            raise AclError(f'{where}: expected {{"tokens": {{"<name>": {{"SecretID": ...}}}}}}')
        found = []
        for name, entry in data["tokens"].items():
            at = f"{where}: tokens.{name}"
            if not isinstance(entry, Mapping):
                raise AclError(f"{at}: expected an object with SecretID and Rules")
            secret = entry.get("SecretID")
            if not isinstance(secret, str) or not secret.strip():
                raise AclError(f"{at}.SecretID: expected the token's secret")
            rules = entry.get("Rules", {})
            description = entry.get("Description", "")
            if not isinstance(description, str):
                raise AclError(f"{at}.Description: expected a string")
            found.append(
                NamedToken(
                    str(name),
                    secret.strip(),
                    Rules.parse(rules, f"{at}.Rules"),
                    description,
                    dict(rules),
                )
            )
        return tuple(found)

    @classmethod
    def read_tokens(cls, path: Path) -> tuple[NamedToken, ...]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise AclError(f"cannot read {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise AclError(f"{path} is not JSON: {exc}") from None
        return cls.parse_tokens(data, str(path))
