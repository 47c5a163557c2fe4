"""/v1/acl/token/self: the one management token, described as Consul describes its
initial management token; 401 `ACL support disabled` when ACL is off, as in Consul.

The AccessorID is derived from the secret (SHA-256), so it stays the same across
restarts; only a caller that already holds the secret can read it here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from typing import Any

from leapfrog.catalog._api import Call, Reply, Route, request_token
from leapfrog.catalog._body import BadRequest
from leapfrog.catalog._store import Store

__all__ = ["GLOBAL_MANAGEMENT", "acl_routes", "management_token"]

GLOBAL_MANAGEMENT = {"ID": "00000000-0000-0000-0000-000000000001", "Name": "global-management"}
"""Consul's built-in policy of management tokens (a fixed ID in every cluster)."""


def management_token(secret: str, created: datetime, index: int) -> dict[str, Any]:
    digest = hashlib.sha256(b"leapfrog-acl-accessor:" + secret.encode()).digest()
    description = "Initial Management Token"
    token_hash = hashlib.sha256(f"{description}|{GLOBAL_MANAGEMENT['ID']}".encode()).digest()
    return {
        "AccessorID": str(uuid.UUID(bytes=digest[:16], version=4)),
        "SecretID": secret,
        "Description": description,
        "Policies": [dict(GLOBAL_MANAGEMENT)],
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


def acl_routes(store: Store, secret: str | None) -> list[Route]:
    created = datetime.now(UTC)

    async def token_self(call: Call) -> Reply:
        if secret is None:
            raise BadRequest("ACL support disabled", 401)
        given = request_token(call.request)
        if not given or not hmac.compare_digest(given.encode(), secret.encode()):
            raise BadRequest("ACL not found", 403)
        index = max(1, store.node_index[0])
        return Reply(management_token(secret, created, index), index=index)

    return [Route(("GET",), "/v1/acl/token/self", action=token_self)]
