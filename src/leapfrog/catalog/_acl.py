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

Rules are also read from Consul's HCL policy text (`Rules.parse_text`, with pyhcl, the
HCL1 Consul itself reads), and a token's policies merge into one rule set
(`Rules.merge`). This module holds the configured tokens: the management token and the
named tokens of the tokens file (`AclConfig.read_tokens`); policies, roles and tokens
made through the API live in `_acl_state`. Not here yet: `list`, templated policies.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum
from pathlib import Path
from typing import Any

from hcl.parser import HclParser  # type: ignore[import-untyped]

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
    "service_identity_rules",
]

ANONYMOUS_ID = "00000000-0000-0000-0000-000000000002"
"""Consul's fixed AccessorID of the anonymous token."""

NAMED_RESOURCES = ("service", "node", "key", "session", "agent", "intention")
"""Resources whose rules name what they apply to (`service "web"`, `key_prefix "app/"`).
`intention` is not written as a rule of its own: a `service` rule's `intentions` field
sets it, and without one its `read` or `write` policy grants intention `read` (Consul's
policy authorizer)."""
_DERIVED = ("intention",)
_OTHER_NAMED = ("event", "query", "identity")
"""Consul's named resources that no endpoint here needs: accepted in rules, unused."""
_GLOBAL_RESOURCES = ("operator", "acl", "keyring", "mesh", "peering")
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
            if resource in _OTHER_NAMED:
                continue
            if resource not in NAMED_RESOURCES or resource in _DERIVED:
                every = (*(r for r in NAMED_RESOURCES if r not in _DERIVED), *_OTHER_NAMED)
                known = [*every, *(f"{r}_prefix" for r in every)]
                raise AclError(
                    f"{where}: {key!r} is not a rule this catalog knows "
                    f"(known: {', '.join([*known, *_GLOBAL_RESOURCES])})"
                )
            if not isinstance(value, Mapping):
                raise AclError(f'{where}.{key}: expected {{"<name>": {{"policy": "read"}}}}')
            target = (prefixes if is_prefix else exact).setdefault(resource, {})
            for name, rule in value.items():
                policy = rule.get("policy") if isinstance(rule, Mapping) else None
                level = _level(policy, f"{where}.{key}.{name}.policy")
                target[str(name)] = level
                if resource == "service":
                    intentions = rule.get("intentions") if isinstance(rule, Mapping) else None
                    derived = (prefixes if is_prefix else exact).setdefault("intention", {})
                    derived[str(name)] = (
                        _level(intentions, f"{where}.{key}.{name}.intentions")
                        if intentions is not None
                        else min(level, Access.READ)
                    )
        return cls._built(exact, prefixes, global_levels)

    @classmethod
    def _built(
        cls,
        exact: Mapping[str, Mapping[str, Access]],
        prefixes: Mapping[str, Mapping[str, Access]],
        global_levels: dict[str, Access],
    ) -> Rules:
        """Grants by resource, prefixes longest first (the first match is the closest)."""
        named = {
            resource: _Grants(
                dict(exact.get(resource, {})),
                tuple(sorted(prefixes.get(resource, {}).items(), key=lambda p: -len(p[0]))),
            )
            for resource in NAMED_RESOURCES
        }
        return cls(named, global_levels)

    @classmethod
    def parse_text(cls, text: str, where: str = "Rules") -> Rules:
        """Consul's policy text: HCL (`service "web" { policy = "write" }`) or its JSON
        form; an empty text grants nothing."""
        if not text.strip():
            return cls()
        try:
            stripped = text.lstrip()
            data = json.loads(stripped) if stripped.startswith("{") else _hcl().parse(text)
        except Exception as exc:  # pyhcl raises ValueError, and others on odd input
            raise AclError(f"Failed to parse {where}: {exc}") from None
        return cls.parse(data, where)

    @classmethod
    def merge(cls, many: Iterable[Rules]) -> Rules:
        """One rule set for a token's policies together, as Consul's policy merger: for
        the same rule in two policies `deny` wins, then `write` over `read`."""
        exact: dict[str, dict[str, Access]] = {}
        prefixes: dict[str, dict[str, Access]] = {}
        global_levels: dict[str, Access] = {}
        for rules in many:
            for resource, grants in rules.named.items():
                into = exact.setdefault(resource, {})
                for name, access in grants.exact.items():
                    into[name] = _stronger(into.get(name), access)
                into = prefixes.setdefault(resource, {})
                for name, access in grants.prefixes:
                    into[name] = _stronger(into.get(name), access)
            for resource, access in rules.global_levels.items():
                global_levels[resource] = _stronger(global_levels.get(resource), access)
        return cls._built(exact, prefixes, global_levels)

    def level(self, resource: str, name: str) -> Access:
        if resource in _GLOBAL_RESOURCES:
            return self.global_levels.get(resource, Access.DENY)
        grants = self.named.get(resource)
        return grants.level(name) if grants is not None else Access.DENY

    def whole_prefix(self, resource: str, prefix: str) -> Access:
        grants = self.named.get(resource)
        return grants.whole_prefix(prefix) if grants is not None else Access.DENY


@functools.cache
def _hcl() -> Any:
    """One HCL parser, made on first use: pyhcl's `loads` builds its parse tables anew
    each call (about 40 ms); a kept parser parses a policy in about a millisecond."""
    return HclParser()


def _stronger(old: Access | None, new: Access) -> Access:
    if old is None:
        return new
    if Access.DENY in (old, new):
        return Access.DENY
    return max(old, new)


def _level(value: Any, where: str) -> Access:
    if value == "list":
        raise AclError(f"{where}: 'list' is not supported yet; use 'read'")
    level = _LEVELS.get(value) if isinstance(value, str) else None
    if level is None:
        raise AclError(f"{where}: expected 'read', 'write' or 'deny', not {value!r}")
    return level


READ_ALL = Rules.parse(
    {
        f"{resource}_prefix": {"": {"policy": "read"}}
        for resource in NAMED_RESOURCES
        if resource not in _DERIVED
    }
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


def service_identity_rules(service: str) -> Rules:
    """Consul's synthesized policy of a service identity: write the service and its
    sidecar proxy, read every service and node (to discover them)."""
    return Rules.parse(
        {
            "service": {
                service: {"policy": "write"},
                f"{service}-sidecar-proxy": {"policy": "write"},
            },
            "service_prefix": {"": {"policy": "read"}},
            "node_prefix": {"": {"policy": "read"}},
        },
        f"service identity {service}",
    )


def _identities(data: Any, at: str) -> tuple[str, ...]:
    if not isinstance(data, list):
        raise AclError(f'{at}.ServiceIdentities: expected a list of {{"ServiceName": ...}}')
    names = []
    for item in data:
        name = item.get("ServiceName") if isinstance(item, Mapping) else None
        if not isinstance(name, str) or not name:
            raise AclError(f"{at}.ServiceIdentities: each needs a ServiceName")
        names.append(name)
    return tuple(names)


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
    service_identities: tuple[str, ...] = ()
    """Consul service identities (`{"ServiceName": "web"}`); their rules are in `rules`."""

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
    tokens_path: Path | None = None
    """The tokens file `tokens` came from, read again when it changes (`reloaded`)."""
    tokens_stamp: tuple[float, int, int] | None = None
    """Its modification time and size when read."""

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
            identities = _identities(entry.get("ServiceIdentities", []), at)
            parsed = Rules.parse(rules, f"{at}.Rules")
            if identities:
                parsed = Rules.merge([parsed, *map(service_identity_rules, identities)])
            found.append(
                NamedToken(
                    str(name),
                    secret.strip(),
                    parsed,
                    description,
                    dict(rules),
                    identities,
                )
            )
        return tuple(found)

    @classmethod
    def with_tokens_file(cls, management: str, path: Path, anonymous_read: bool) -> AclConfig:
        stamp = _stamp(path)
        return cls(management, cls.read_tokens(path), anonymous_read, path, stamp)

    def reloaded(self) -> AclConfig | None:
        """This config with the tokens file read again, or None when it did not change
        (one stat: the catalog asks once a second)."""
        if self.tokens_path is None:
            return None
        stamp = _stamp(self.tokens_path)
        if stamp == self.tokens_stamp:
            return None
        tokens = self.read_tokens(self.tokens_path) if stamp is not None else ()
        return replace(self, tokens=tokens, tokens_stamp=stamp)

    @classmethod
    def read_tokens(cls, path: Path) -> tuple[NamedToken, ...]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise AclError(f"cannot read {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise AclError(f"{path} is not JSON: {exc}") from None
        return cls.parse_tokens(data, str(path))


def _stamp(path: Path) -> tuple[float, int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_mtime, info.st_size, info.st_ino)  # a rename makes a new inode
