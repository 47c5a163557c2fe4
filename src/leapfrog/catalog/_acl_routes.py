"""Consul's ACL API: `/v1/acl/policy`, `/v1/acl/role`, `/v1/acl/token` and their
listings, and `/v1/acl/token/self`.

As Consul's agent answers them (agent/acl_endpoint.go): a create is a PUT without an ID
and answers the new object; an update is a PUT on the ID; a delete answers `true` (and
is idempotent); reading an ID or name nobody made is 403 `ACL not found`; everything is
401 `ACL support disabled` when ACL is off. Bad input (rules that do not parse, a link to
a policy or role that does not exist, a name Consul would refuse) is a 400 that says
what is wrong. Reading needs `acl = "read"` and writing `acl = "write"` (the enforcement
table); a token read without `acl:write` shows its SecretID as `<hidden>`.

The management token and the tokens of the tokens file are configured, not made here:
they are listed and described (`AccessorID` derived from the secret, stable across
restarts), and refused to updates and deletes.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from leapfrog.catalog._acl import (
    Access,
    AclConfig,
    AclError,
    Authorizer,
    NamedToken,
    Rules,
    accessor_of,
)
from leapfrog.catalog._acl_state import (
    ACL_TOPIC,
    GLOBAL_MANAGEMENT_ID,
    Policy,
    Role,
    Token,
    go_time,
    new_id,
    valid_name,
    valid_service_name,
    valid_uuid,
)
from leapfrog.catalog._api import Call, Reply, Route, request_token
from leapfrog.catalog._body import BadRequest, Fields, parse_json_object
from leapfrog.catalog._godur import parse_go_duration
from leapfrog.catalog._store import Store

__all__ = ["GLOBAL_MANAGEMENT", "acl_routes", "management_token", "named_token"]

GLOBAL_MANAGEMENT = {"ID": GLOBAL_MANAGEMENT_ID, "Name": "global-management"}
"""Consul's built-in policy of management tokens (a fixed ID in every cluster)."""

NOT_FOUND = "ACL not found"
_MIN_TTL, _MAX_TTL = 60.0, 24 * 3600.0
"""Consul's default acl.token_min/max_expiration_ttl."""

Who = Callable[[Call], Authorizer]
"""The authorizer of a call's token (already resolved once by the guard)."""


def management_token(secret: str, created: datetime, index: int) -> dict[str, Any]:
    policies = [dict(GLOBAL_MANAGEMENT)]
    return _configured(secret, "Initial Management Token", policies, created, index)


def named_token(token: NamedToken, created: datetime, index: int) -> dict[str, Any]:
    policies = []
    if token.raw_rules:
        digest = hashlib.sha256(b"leapfrog-acl-policy:" + token.name.encode()).digest()
        policies.append({"ID": str(uuid.UUID(bytes=digest[:16], version=4)), "Name": token.name})
    description = token.description or f"leapfrog token {token.name}"
    view = _configured(token.secret, description, policies, created, index)
    if token.service_identities:
        view["ServiceIdentities"] = [{"ServiceName": s} for s in token.service_identities]
    return view


def _configured(
    secret: str, description: str, policies: list[dict[str, str]], created: datetime, index: int
) -> dict[str, Any]:
    token_hash = hashlib.sha256(f"{description}|{policies}".encode()).digest()
    return {
        "AccessorID": accessor_of(secret),
        "SecretID": secret,
        "Description": description,
        "Policies": policies,
        "Local": False,
        "CreateTime": go_time(created.timestamp()),
        "Hash": base64.b64encode(token_hash).decode(),
        "CreateIndex": index,
        "ModifyIndex": index,
    }


def _body(call: Call, what: str) -> Fields:
    body = call.request.body
    if not body.strip():
        return Fields({}, "body")
    try:
        return parse_json_object(body)
    except BadRequest as exc:
        raise BadRequest(f"{what} decoding failed: {exc.text}") from None


def _rules(text: str) -> Rules:
    try:
        return Rules.parse_text(text)
    except AclError as exc:
        raise BadRequest(f"Invalid Policy: {exc}") from None


def acl_routes(  # noqa: PLR0915 (one closure per endpoint, as the other route modules)
    store: Store, acl: AclConfig | None, who: Who
) -> list[Route]:
    state = store.acl
    created = datetime.now(UTC)

    def enabled() -> AclConfig:
        if acl is None:
            raise BadRequest("ACL support disabled", 401)
        return acl

    def index() -> int:
        return max(1, store.log.of(ACL_TOPIC))

    # -- policies -----------------------------------------------------------------------

    def find_policy(text: str, by: str) -> Policy:
        policy = state.policies.get(text) if by == "id" else state.policy_named(text)
        if policy is None:
            raise BadRequest(NOT_FOUND, 403)
        return policy

    def write_policy(call: Call, policy_id: str) -> Reply:
        fields = _body(call, "Policy")
        given = fields.text("ID")
        if not policy_id and given:
            raise BadRequest("Cannot specify the ID when creating a new policy")
        if policy_id and given and given != policy_id:
            raise BadRequest("Policy ID in URL and payload do not match")
        old = state.policies.get(policy_id) if policy_id else None
        if policy_id and old is None:
            raise BadRequest(f"Invalid Policy: A Policy with ID {policy_id!r} does not exist")
        name = fields.text("Name")
        if not valid_name(name):
            raise BadRequest(
                "Invalid Policy: invalid Name. Only alphanumeric characters, '-' and '_' are "
                "allowed"
            )
        same = state.policy_named(name)
        if same is not None and same.id != policy_id:
            raise BadRequest(f"Invalid Policy: A Policy with Name {name!r} already exists")
        text = fields.text("Rules")
        if policy_id == GLOBAL_MANAGEMENT_ID and old is not None and text != old.rules_text:
            raise BadRequest(
                "Changing the Rules for the builtin global-management policy is not permitted"
            )
        policy = Policy(
            id=policy_id or new_id(),
            name=name,
            description=fields.text("Description"),
            rules_text=text,
            datacenters=list(fields.str_list("Datacenters")),
            rules=_rules(text),
        )
        return Reply(state.set_policy(policy).to_dict(), index=index())

    async def policy_create(call: Call) -> Reply:
        enabled()
        return write_policy(call, "")

    async def policy_by_id(call: Call) -> Reply:
        enabled()
        method = call.request.method
        if not call.rest:
            raise BadRequest("Missing policy ID")
        if method == "PUT":
            return write_policy(call, call.rest)
        if method == "DELETE":
            if call.rest == GLOBAL_MANAGEMENT_ID:
                raise BadRequest("Delete of the builtin global-management policy is not permitted")
            state.delete_policy(call.rest)
            return Reply(True, index=index())
        return Reply(find_policy(call.rest, "id").to_dict(), index=index())

    async def policy_by_name(call: Call) -> Reply:
        enabled()
        if not call.rest:
            raise BadRequest("Missing policy Name")
        return Reply(find_policy(call.rest, "name").to_dict(), index=index())

    async def policy_list(call: Call) -> Reply:
        enabled()
        stubs = sorted((p.stub() for p in state.policies.values()), key=lambda p: p["CreateIndex"])
        return Reply(stubs, index=index())

    # -- links shared by roles and tokens -------------------------------------------------

    def policy_ids(fields: Fields, what: str) -> list[str]:
        found: list[str] = []
        for link in fields.obj_list("Policies"):
            link_id, name = link.text("ID"), link.text("Name")
            if link_id:
                if link_id not in state.policies:
                    raise BadRequest(f"Invalid {what}: A Policy with ID {link_id!r} does not exist")
            else:
                policy = state.policy_named(name) if name else None
                if policy is None:
                    raise BadRequest(
                        f"Invalid {what}: A Policy with Name {name!r} does not exist"
                        if name
                        else f"Invalid {what}: a policy link needs an ID or a Name"
                    )
                link_id = policy.id
            if link_id not in found:
                found.append(link_id)
        return found

    def identities(fields: Fields, what: str) -> list[str]:
        found: list[str] = []
        for item in fields.obj_list("ServiceIdentities"):
            name = item.text("ServiceName")
            if not name:
                raise BadRequest(f"Invalid {what}: a service identity needs a ServiceName")
            if not valid_service_name(name):
                raise BadRequest(
                    f"Service identity {name!r} has an invalid name. Only lowercase "
                    "alphanumeric characters, '-' and '_' are allowed"
                )
            if name not in found:
                found.append(name)
        return found

    # -- roles ----------------------------------------------------------------------------

    def find_role(text: str, by: str) -> Role:
        role = state.roles.get(text) if by == "id" else state.role_named(text)
        if role is None:
            raise BadRequest(NOT_FOUND, 403)
        return role

    def write_role(call: Call, role_id: str) -> Reply:
        fields = _body(call, "Role")
        given = fields.text("ID")
        if not role_id and given:
            raise BadRequest("Cannot specify the ID when creating a new role")
        if role_id and given and given != role_id:
            raise BadRequest("Role ID in URL and payload do not match")
        if role_id and role_id not in state.roles:
            raise BadRequest(f"Invalid Role: A Role with ID {role_id!r} does not exist")
        name = fields.text("Name")
        if not valid_name(name):
            raise BadRequest(
                "Invalid Role: invalid Name. Only alphanumeric characters, '-' and '_' are allowed"
            )
        same = state.role_named(name)
        if same is not None and same.id != role_id:
            raise BadRequest(f"Invalid Role: A Role with Name {name!r} already exists")
        role = Role(
            id=role_id or new_id(),
            name=name,
            description=fields.text("Description"),
            policies=policy_ids(fields, "Role"),
            service_identities=identities(fields, "Role"),
        )
        return Reply(state.role_view(state.set_role(role)), index=index())

    async def role_create(call: Call) -> Reply:
        enabled()
        return write_role(call, "")

    async def role_by_id(call: Call) -> Reply:
        enabled()
        method = call.request.method
        if not call.rest:
            raise BadRequest("Missing role ID")
        if method == "PUT":
            return write_role(call, call.rest)
        if method == "DELETE":
            state.delete_role(call.rest)
            return Reply(True, index=index())
        return Reply(state.role_view(find_role(call.rest, "id")), index=index())

    async def role_by_name(call: Call) -> Reply:
        enabled()
        if not call.rest:
            raise BadRequest("Missing role Name")
        return Reply(state.role_view(find_role(call.rest, "name")), index=index())

    async def role_list(call: Call) -> Reply:
        enabled()
        policy = call.params.get("policy", "")
        roles = [r for r in state.roles.values() if not policy or policy in r.policies]
        views = [state.role_view(r) for r in sorted(roles, key=lambda r: r.create_index)]
        return Reply(views, index=index())

    # -- tokens ---------------------------------------------------------------------------

    def configured() -> dict[str, dict[str, Any]]:
        """The management token and the tokens file's, by AccessorID."""
        config = enabled()
        at = max(1, store.node_index[0])
        found = {accessor_of(config.management): management_token(config.management, created, at)}
        for named in config.tokens:
            found[accessor_of(named.secret)] = named_token(named, created, at)
        return found

    def shows_secrets(call: Call) -> bool:
        return who(call).allows("acl", "", Access.WRITE)

    def write_token(call: Call, accessor: str) -> Reply:
        fields = _body(call, "Token")
        given = fields.text("AccessorID")
        if accessor and given and given != accessor:
            raise BadRequest("Token Accessor ID in URL and payload do not match")
        if accessor in configured() or given in configured():
            raise BadRequest(
                "Invalid Token: this token is configured (the management token or the tokens "
                "file); change it there"
            )
        old = state.tokens.get(accessor) if accessor else None
        if accessor and old is None:
            raise BadRequest(f"Cannot find token {accessor!r}")
        secret = fields.text("SecretID")
        if old is not None:
            if secret and secret != old.secret:
                raise BadRequest("Changing a token's SecretID is not permitted")
            secret = old.secret
        else:
            if given and not valid_uuid(given):
                raise BadRequest("Invalid Token: AccessorID is not a valid UUID")
            if given and given in state.tokens:
                raise BadRequest("Invalid Token: AccessorID is already in use")
            if secret and not valid_uuid(secret):
                raise BadRequest("Invalid Token: SecretID is not a valid UUID")
            if secret and (state.token_by_secret(secret) or secret == enabled().management):
                raise BadRequest("Invalid Token: SecretID is already in use")
        expiration = old.expiration_time if old else None
        if old is None:
            expiration = expiry(fields)
        elif fields.has("ExpirationTTL", "ExpirationTime"):
            raise BadRequest("Cannot change expiration time")
        token = Token(
            accessor=old.accessor if old else (given or new_id()),
            secret=secret or new_id(),
            description=fields.text("Description"),
            policies=policy_ids(fields, "Token"),
            roles=role_ids(fields),
            service_identities=identities(fields, "Token"),
            local=old.local if old else fields.boolean("Local"),
            create_time=old.create_time if old else state.clock(),
            expiration_time=expiration,
        )
        saved = state.set_token(token)
        return Reply(state.token_view(saved), index=index())

    def expiry(fields: Fields) -> float | None:
        raw = fields.raw("ExpirationTTL")
        if raw is None or raw in ("", 0):
            return None
        try:
            ttl = parse_go_duration(raw)
        except (ValueError, TypeError, OverflowError):
            raise BadRequest(
                f"Token decoding failed: ExpirationTTL {raw!r} is not a duration"
            ) from None
        if ttl < 0:
            raise BadRequest(f"Token Expiration TTL '{raw}' should be > 0")
        if not _MIN_TTL <= ttl <= _MAX_TTL:
            raise BadRequest(
                f"Invalid Token: ExpirationTTL {raw!r} must be between 1m0s and 24h0m0s"
            )
        return state.clock() + ttl

    def role_ids(fields: Fields) -> list[str]:
        found: list[str] = []
        for link in fields.obj_list("Roles"):
            link_id, name = link.text("ID"), link.text("Name")
            role = state.roles.get(link_id) if link_id else state.role_named(name)
            if role is None:
                raise BadRequest(
                    f"Invalid Token: A Role with ID {link_id!r} does not exist"
                    if link_id
                    else f"Invalid Token: A Role with Name {name!r} does not exist"
                )
            if role.id not in found:
                found.append(role.id)
        return found

    async def token_create(call: Call) -> Reply:
        enabled()
        return write_token(call, "")

    async def token_by_id(call: Call) -> Reply:
        enabled()
        method, rest = call.request.method, call.rest
        if method == "PUT" and rest.endswith("/clone"):
            return clone(call, rest.removesuffix("/clone"))
        if not rest:
            raise BadRequest("Missing token ID")
        if method == "PUT":
            return write_token(call, rest)
        if method == "DELETE":
            if rest in configured():
                raise BadRequest(
                    "Deletion of a configured token (management or tokens file) is not permitted"
                )
            state.delete_token(rest)
            return Reply(True, index=index())
        found = configured().get(rest)
        if found is not None:
            if not shows_secrets(call):
                found["SecretID"] = "<hidden>"
            return Reply(found, index=index())
        token = state.tokens.get(rest)
        if token is None or token.expired(state.clock()):
            raise BadRequest(NOT_FOUND, 403)
        return Reply(state.token_view(token, shows_secrets(call)), index=index())

    def clone(call: Call, accessor: str) -> Reply:
        old = state.tokens.get(accessor)
        if old is None:
            raise BadRequest(f"Cannot find token {accessor!r}")
        fields = _body(call, "Token")
        token = Token(
            accessor=new_id(),
            secret=new_id(),
            description=fields.text("Description") or old.description,
            policies=list(old.policies),
            roles=list(old.roles),
            service_identities=list(old.service_identities),
            local=old.local,
            create_time=state.clock(),
            expiration_time=old.expiration_time,
        )
        return Reply(state.token_view(state.set_token(token)), index=index())

    async def token_list(call: Call) -> Reply:
        enabled()
        show = shows_secrets(call)
        policy, role = call.params.get("policy", ""), call.params.get("role", "")
        service = call.params.get("servicename", "")
        now = state.clock()
        views: list[dict[str, Any]] = []
        if not (policy or role or service):
            for view in configured().values():
                views.append(_stub(view, show))
        for token in sorted(state.tokens.values(), key=lambda t: t.create_index):
            if token.expired(now):
                continue
            if policy and policy not in token.policies:
                continue
            if role and role not in token.roles:
                continue
            if service and service not in token.service_identities:
                continue
            views.append(_stub(state.token_view(token), show))
        return Reply(views, index=index())

    async def token_self(call: Call) -> Reply:
        config = enabled()
        given = request_token(call.request)
        if not given:
            raise BadRequest(NOT_FOUND, 403)
        at = max(1, store.node_index[0])
        named = config.named(given)
        if named is not None:
            return Reply(named_token(named, created, at), index=at)
        if given == config.management:
            return Reply(management_token(given, created, at), index=at)
        token = state.token_by_secret(given)
        if token is None:
            raise BadRequest(NOT_FOUND, 403)
        return Reply(state.token_view(token), index=index())

    rw = ("GET", "PUT", "DELETE")
    return [
        Route(("PUT",), "/v1/acl/policy", action=policy_create),
        Route(rw, "/v1/acl/policy/", prefix=True, action=policy_by_id),
        Route(("GET",), "/v1/acl/policy/name/", prefix=True, action=policy_by_name),
        Route(("GET",), "/v1/acl/policies", action=policy_list),
        Route(("PUT",), "/v1/acl/role", action=role_create),
        Route(rw, "/v1/acl/role/", prefix=True, action=role_by_id),
        Route(("GET",), "/v1/acl/role/name/", prefix=True, action=role_by_name),
        Route(("GET",), "/v1/acl/roles", action=role_list),
        Route(("PUT",), "/v1/acl/token", action=token_create),
        Route(("GET",), "/v1/acl/token/self", action=token_self),
        Route(rw, "/v1/acl/token/", prefix=True, action=token_by_id),
        Route(("GET",), "/v1/acl/tokens", action=token_list),
    ]


def _stub(view: dict[str, Any], show_secret: bool) -> dict[str, Any]:
    """Consul's ACLTokenListStub: the token without its rules, secret hidden to callers
    without `acl:write`."""
    stub = dict(view)
    if not show_secret:
        stub["SecretID"] = "<hidden>"
    stub["Legacy"] = False
    return stub
