"""Service identity: `identity:` turns on the catalog's certificates and intentions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from leapfrog.spec._base import Model as _Model

__all__ = ["IdentitySpec"]


class IdentitySpec(_Model):
    """Service identity as Consul's service mesh has it: each service instance gets a
    certificate from the catalog's CA (SPIFFE ID `spiffe://<trust-domain>/ns/default/dc/
    <dc>/svc/<service>`), serves mutual TLS with it, and lets in only the callers the
    intentions allow. The intentions are written from each service's callers
    (`callers:`, or those that list it in depends_on, and allow_from)."""

    mtls: bool = Field(
        True,
        description="Services serve mutual TLS with their certificate (LEAPFROG_IDENTITY=on "
        "for the SDK) and check each caller's certificate against the CA roots and the "
        "intentions: a caller that is not allowed gets 403 with the reason. `false` turns "
        "identity off as if the section were absent.",
    )
    default: Literal["allow", "deny"] = Field(
        "deny",
        description="What the catalog decides for a caller no intention matches (Consul's "
        "`default_intention_policy`): `deny` (only declared callers get in) or `allow`.",
    )
