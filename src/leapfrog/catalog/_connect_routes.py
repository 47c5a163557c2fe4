"""Consul's service-mesh API: the CA (`/v1/connect/ca/*`, `/v1/agent/connect/ca/*`),
intentions (`/v1/connect/intentions*`) and `/v1/agent/connect/authorize`.

As Consul's agent answers them (agent/connect_ca_endpoint.go, agent/intentions_endpoint.go,
agent/agent_endpoint.go): roots, leaves, the intention list and matches are blocking
reads (`?index`); a leaf is named by its service, not an instance ID; the exact API
(`?source=&destination=`) is the way to write intentions and answers `true`; the legacy
create (POST) answers `{"ID": ...}` and refuses a second intention for the same pair;
an ID-based read of an intention the exact API made is a 404, since those have no ID.
One namespace (`default`) and one partition exist: naming another is a 400 that says so,
as is any malformed intention (every problem is named). Permissions (L7 intentions) are
refused. A client certificate URI of another trust domain is not authorized.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leapfrog.catalog._api import Call, Reply, Route, go_bool
from leapfrog.catalog._body import BadRequest, Fields, parse_json_object
from leapfrog.catalog._connect_ca import CA_TOPIC, CertificateAuthority, leaf_topic, parse_spiffe
from leapfrog.catalog._filter import compile_filter
from leapfrog.catalog._intentions import (
    DEFAULT_NS,
    INTENTIONS_TOPIC,
    Intention,
    IntentionError,
    validate,
)
from leapfrog.catalog._store import Store

_LEAF_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")

__all__ = ["DefaultPolicy", "connect_routes", "intention_body", "intention_name"]


@dataclass(frozen=True)
class DefaultPolicy:
    """What decides when no intention matches: Consul's `default_intention_policy` when
    set ("allow" or "deny"), else the ACL default (deny with ACL on, allow with it off)."""

    intention_policy: str | None
    acl_on: bool

    @property
    def allow(self) -> bool:
        if self.intention_policy is not None:
            return self.intention_policy == "allow"
        return not self.acl_on

    @property
    def reason(self) -> str:
        if self.intention_policy is not None:
            return "Default intention policy"
        return "Default behavior configured by ACLs"


def intention_name(text: str, what: str) -> str:
    """A service of `?source=` / `?destination=`: `name`, `default/name` or
    `default/default/name` (partition/namespace/name), as Consul parses them."""
    parts = text.split("/")
    if len(parts) > 3:
        raise BadRequest(f"{what} {text!r} is invalid: input can contain at most two '/'")
    if len(parts) >= 2 and any(p != DEFAULT_NS for p in parts[:-1]):
        raise BadRequest(
            f"{what} {text!r} is invalid: only the 'default' partition and namespace exist "
            "in leapfrog's catalog (Consul Enterprise has others)"
        )
    name = parts[-1]
    if not name:
        raise BadRequest(f"{what} {text!r} is invalid: the service name is empty")
    return name


def _namespace(fields: Fields, name: str) -> None:
    value = fields.text(name)
    if value not in ("", DEFAULT_NS):
        raise BadRequest(
            f"{name} {value!r} is invalid: only the 'default' namespace exists in leapfrog's "
            "catalog (Consul Enterprise has others)"
        )


def intention_body(
    call: Call, source: str | None = None, destination: str | None = None
) -> Intention:
    """A request's `structs.Intention` (its pair from the query when given); 400 with
    every problem when Consul would refuse it."""
    fields = parse_json_object(call.request.body, "intention")
    for name in ("SourceNS", "DestinationNS"):
        _namespace(fields, name)
    for name in ("SourcePartition", "DestinationPartition"):
        value = fields.text(name)
        if value not in ("", "default"):
            raise BadRequest(f"Cannot specify a {name} other than 'default' with this endpoint")
    if fields.text("SourcePeer") or fields.text("SourceSamenessGroup"):
        raise BadRequest("SourcePeer and SourceSamenessGroup are not supported (one cluster)")
    if fields.raw("Permissions"):
        raise BadRequest(
            "Permissions (L7 intentions) are not supported by leapfrog's catalog; "
            "use Action 'allow' or 'deny'"
        )
    ixn = Intention(
        source=source if source is not None else fields.text("SourceName"),
        destination=destination if destination is not None else fields.text("DestinationName"),
        action=fields.text("Action"),
        description=fields.text("Description"),
        meta=fields.str_map("Meta"),
        source_type=fields.text("SourceType") or "consul",
    )
    try:
        validate(ixn)
    except IntentionError as exc:
        raise BadRequest(f"Invalid intention: {exc}") from None
    return ixn


def _pair(call: Call) -> tuple[str, str]:
    source, destination = call.params.get("source"), call.params.get("destination")
    if source is None:
        raise BadRequest("required query parameter 'source' not set")
    if destination is None:
        raise BadRequest("required query parameter 'destination' not set")
    return intention_name(source, "source"), intention_name(destination, "destination")


@dataclass
class _Topic:
    """A blocking read of one topic."""

    store: Store
    topic: Callable[[Call], str]
    build: Callable[[Call], Any]
    check: Callable[[Call], None] | None = None

    def validate(self, call: Call) -> None:
        if self.check is not None:
            self.check(call)

    def watch(self, call: Call) -> tuple[tuple[str, ...], str | None]:
        return (self.topic(call),), None

    def index(self, call: Call) -> int:
        return self.store.log.of(self.topic(call))

    def reply(self, call: Call) -> Reply:
        return Reply(self.build(call))


class _Roots(_Topic):
    """The roots; `?pem=true` answers them as one PEM bundle, as Consul does."""

    def reply(self, call: Call) -> Reply:
        data = self.build(call)
        if go_bool(call.params.get("pem") or "false"):
            bundle = "".join(root["RootCert"] for root in data["Roots"])
            return Reply(raw=bundle.encode(), content_type="application/pem-certificate-chain")
        return Reply(data)


@dataclass
class _LeafQuery:
    """The service's leaf: its index is that of the leaf in force (a new one is issued
    once the current one is due), so a blocking query returns with the next leaf."""

    ca: CertificateAuthority

    def validate(self, call: Call) -> None:
        if not call.rest:
            raise BadRequest("Missing service name")
        if not _LEAF_NAME.match(call.rest):
            raise BadRequest(
                f"Invalid service name {call.rest[:80]!r}: a certificate names a service of "
                "1-63 letters, digits, '-', '_' or '.', starting with a letter or digit"
            )

    def watch(self, call: Call) -> tuple[tuple[str, ...], str | None]:
        return (leaf_topic(call.rest),), None

    def index(self, call: Call) -> int:
        return self.ca.leaf_index(call.rest)

    def reply(self, call: Call) -> Reply:
        return Reply(self.ca.leaf(call.rest).to_dict())


def connect_routes(  # noqa: PLR0915 (one closure per endpoint, as the other route modules)
    store: Store, ca: CertificateAuthority, default: DefaultPolicy
) -> list[Route]:
    state = store.intentions

    def roots(call: Call) -> Any:
        return ca.roots()

    def roots_check(call: Call) -> None:
        pem = call.params.get("pem")
        if pem and go_bool(pem) is None:
            raise BadRequest("Invalid value for ?pem")

    async def configuration(call: Call) -> Reply:
        return Reply(ca.configuration())

    async def authorize(call: Call) -> Reply:
        fields = parse_json_object(call.request.body)
        target = fields.text("Target")
        if not target:
            raise BadRequest("Target service must be specified")
        uri = fields.text("ClientCertURI")
        identity = parse_spiffe(uri)
        if identity is None:
            raise BadRequest("ClientCertURI not a valid Connect identifier")
        if identity.trust_domain != ca.trust_domain.lower():
            reason = (
                f"Client certificate is from trust domain {identity.trust_domain!r}, "
                f"not this cluster's ({ca.trust_domain!r})"
            )
            return Reply({"Authorized": False, "Reason": reason})
        if identity.namespace != DEFAULT_NS:
            reason = (
                f"Client certificate names namespace {identity.namespace!r}; only 'default' exists"
            )
            return Reply({"Authorized": False, "Reason": reason})
        decision = state.decide(identity.service, target, default.allow)
        reason = decision.reason if decision.intention is not None else default.reason
        return Reply({"Authorized": decision.allowed, "Reason": reason})

    def listing(call: Call) -> Any:
        items = [i.to_dict() for i in state.all()]
        predicate = compile_filter(call.params.get("filter"))
        return items if predicate is None else [i for i in items if predicate(i)]

    def listing_check(call: Call) -> None:
        compile_filter(call.params.get("filter"))

    async def create(call: Call) -> Reply:
        ixn = intention_body(call)
        try:
            made = state.create(ixn)
        except IntentionError as exc:
            raise BadRequest(str(exc), 409 if "duplicate" in str(exc) else 400) from None
        return Reply({"ID": made.id})

    async def exact(call: Call) -> Reply:
        source, destination = _pair(call)
        method = call.request.method
        if method in ("GET", "HEAD"):
            found = state.by_key.get((source, destination))
            if found is None:
                raise BadRequest("Intention not found", 404)
            return Reply(found.to_dict(), index=state.index)
        if method == "DELETE":
            state.delete(source, destination)
            return Reply(True)
        state.upsert(intention_body(call, source, destination))
        return Reply(True)

    def match_check(call: Call) -> None:
        by = call.params.get("by")
        if by not in ("source", "destination"):
            raise BadRequest("required query parameter 'by' must be 'source' or 'destination'")
        if not call.values("name"):
            raise BadRequest("required query parameter 'name' not set")

    def match(call: Call) -> Any:
        by = call.params["by"]
        return {
            name: [i.to_dict() for i in state.match(by, intention_name(name, "name"))]
            for name in call.values("name")
        }

    async def check(call: Call) -> Reply:
        source, destination = _pair(call)
        source_type = call.params.get("source-type", "consul")
        if source_type != "consul":
            raise BadRequest("unsupported source-type: only 'consul' is")
        decision = state.decide(source, destination, default.allow)
        return Reply({"Allowed": decision.allowed})

    async def by_id(call: Call) -> Reply:
        method = call.request.method
        updated = intention_body(call) if method == "PUT" else None  # bad input is 400 first
        found = state.by_id(call.rest)
        if found is None:
            if method == "DELETE":
                raise BadRequest("Intention not found", 404)
            raise BadRequest(f"Intention not found: {call.rest}", 404)
        if method in ("GET", "HEAD"):
            return Reply(found.to_dict(), index=state.index)
        if method == "DELETE":
            state.delete(found.source, found.destination)
            return Reply(True)
        assert updated is not None
        if updated.key != found.key:
            if updated.key in state.by_key:
                taken = state.by_key[updated.key].describe()
                raise BadRequest(f"duplicate intention found: {taken}")
            state.delete(found.source, found.destination)
        updated.id = found.id
        state.upsert(updated)
        return Reply(True)

    roots_query = _Roots(store, lambda _c: CA_TOPIC, roots, roots_check)
    intentions = _Topic(store, lambda _c: INTENTIONS_TOPIC, listing, listing_check)
    return [
        Route(("GET",), "/v1/connect/ca/roots", query=roots_query),
        Route(("GET",), "/v1/agent/connect/ca/roots", query=roots_query),
        Route(("GET",), "/v1/connect/ca/configuration", action=configuration),
        Route(("GET",), "/v1/agent/connect/ca/leaf/", prefix=True, query=_LeafQuery(ca)),
        Route(("POST", "PUT"), "/v1/agent/connect/authorize", action=authorize),
        Route(("GET", "POST"), "/v1/connect/intentions", query=intentions, action=create),
        Route(("GET", "PUT", "DELETE"), "/v1/connect/intentions/exact", action=exact),
        Route(
            ("GET",),
            "/v1/connect/intentions/match",
            query=_Topic(store, lambda _c: INTENTIONS_TOPIC, match, match_check),
        ),
        Route(("GET",), "/v1/connect/intentions/check", action=check),
        Route(("GET", "PUT", "DELETE"), "/v1/connect/intentions/", prefix=True, action=by_id),
    ]
