"""/v1/acl/token/self: the caller's own token, the management token described as Consul
describes its initial management token, a named token with its one policy; 401
`ACL support disabled` when ACL is off, as in Consul.

AccessorIDs are derived from the secret (SHA-256), so they stay the same across
restarts; only a caller that already holds the secret can read it here.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from leapfrog.catalog._acl import AclConfig, NamedToken, UnknownToken, accessor_of
from leapfrog.catalog._api import Call, Reply, Route, request_token
from leapfrog.catalog._body import BadRequest
from leapfrog.catalog._store import Store

__all__ = ["GLOBAL_MANAGEMENT", "acl_routes", "management_token", "named_token"]

GLOBAL_MANAGEMENT = {"ID": "00000000-0000-0000-0000-000000000001", "Name": "global-management"}
"""Consul's built-in policy of management tokens (a fixed ID in every cluster)."""


def management_token(secret: str, created: datetime, index: int) -> dict[str, Any]:
    return _token(secret, "Initial Management Token", dict(GLOBAL_MANAGEMENT), created, index)


def named_token(token: NamedToken, created: datetime, index: int) -> dict[str, Any]:
    digest = hashlib.sha256(b"leapfrog-acl-policy:" + token.name.encode()).digest()
    policy = {"ID": str(uuid.UUID(bytes=digest[:16], version=4)), "Name": token.name}
    description = token.description or f"leapfrog token {token.name}"
    return _token(token.secret, description, policy, created, index)


def _token(
    secret: str, description: str, policy: dict[str, str], created: datetime, index: int
) -> dict[str, Any]:
    token_hash = hashlib.sha256(f"{description}|{policy['ID']}".encode()).digest()
    return {
        "AccessorID": accessor_of(secret),
        "SecretID": secret,
        "Description": description,
        "Policies": [policy],
        "Local": False,
        "CreateTime": _go_time(created),
        "Hash": base64.b64encode(token_hash).decode(),
        "CreateIndex": index,
        "ModifyIndex": index,
    }


def _go_time(moment: datetime) -> str:
    """RFC 3339 with nanoseconds, as Go's time.Time encodes to JSON."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z"


def acl_routes(store: Store, acl: AclConfig | None) -> list[Route]:
    created = datetime.now(UTC)

    async def token_self(call: Call) -> Reply:
        if acl is None:
            raise BadRequest("ACL support disabled", 401)
        given = request_token(call.request)
        try:
            authz = acl.resolve(given) if given else None
        except UnknownToken:
            authz = None
        if authz is None:
            raise BadRequest("ACL not found", 403)
        index = max(1, store.node_index[0])
        named = acl.named(given)
        if named is not None:
            return Reply(named_token(named, created, index), index=index)
        return Reply(management_token(given, created, index), index=index)

    return [Route(("GET",), "/v1/acl/token/self", action=token_self)]
