"""ACL objects in process: Consul's HCL rules, how a token's policies merge, the service
identity's synthesized rules, bad input answered 400 (never 500), and the state rebuilt
from its journal records."""

from __future__ import annotations

import asyncio
import json

import pytest
from catalog_fakes import call, make_api, make_store

from leapfrog.catalog._acl import Access, AclError, Rules, service_identity_rules
from leapfrog.catalog._acl_state import AclState, Policy, Token
from leapfrog.catalog._api import Api
from leapfrog.catalog._index import IndexLog
from leapfrog.catalog._watch import WatchHub


def test_hcl_and_json_rules_say_the_same() -> None:
    hcl = (
        'key_prefix "app/" { policy = "read" }\n'
        'service "web" { policy = "write" }\n'
        'operator = "read"'
    )
    as_json = json.dumps(
        {
            "key_prefix": {"app/": {"policy": "read"}},
            "service": {"web": {"policy": "write"}},
            "operator": "read",
        }
    )
    for rules in (Rules.parse_text(hcl), Rules.parse_text(as_json)):
        assert rules.level("key", "app/x") == Access.READ
        assert rules.level("service", "web") == Access.WRITE
        assert rules.level("operator", "") == Access.READ
        assert rules.level("key", "other") == Access.DENY
    assert Rules.parse_text("   ").level("key", "x") == Access.DENY
    # Consul's resources that no endpoint here needs are accepted.
    Rules.parse_text('event_prefix "" { policy = "read" }\nkeyring = "read"')


@pytest.mark.parametrize(
    "text",
    ['service "web" { policy = ', 'service "web" { policy = "admin" }', "bogus = 1", "[", "1"],
)
def test_malformed_rules_are_an_acl_error(text: str) -> None:
    with pytest.raises(AclError):
        Rules.parse_text(text)


def test_merge_deny_wins_then_write_over_read() -> None:
    read = Rules.parse_text('key_prefix "a/" { policy = "read" }')
    write = Rules.parse_text('key_prefix "a/" { policy = "write" }')
    deny = Rules.parse_text('key_prefix "a/" { policy = "deny" }')
    assert Rules.merge([read, write]).level("key", "a/x") == Access.WRITE
    assert Rules.merge([write, deny, read]).level("key", "a/x") == Access.DENY


def test_service_identity_writes_its_service_and_reads_the_rest() -> None:
    rules = service_identity_rules("web")
    assert rules.level("service", "web") == Access.WRITE
    assert rules.level("service", "web-sidecar-proxy") == Access.WRITE
    assert rules.level("service", "billing") == Access.READ
    assert rules.level("node", "any") == Access.READ
    assert rules.level("key", "x") == Access.DENY


def _send(api: Api, method: str, target: str, body: object = None) -> tuple[int, str]:
    raw = json.dumps(body).encode() if body is not None else b""

    async def main() -> tuple[int, str]:
        response = await call(api, method, target, body=raw, X_Consul_Token="root")
        return response.status, response.body.decode()

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("method", "target", "body", "says"),
    [
        ("PUT", "/v1/acl/policy", {"Name": "p", "Rules": 'key "a" {'}, "Failed to parse"),
        ("PUT", "/v1/acl/policy", {"Name": "p", "Rules": "x = 1"}, "not a rule"),
        ("PUT", "/v1/acl/policy", {"Name": "bad name"}, "invalid Name"),
        ("PUT", "/v1/acl/policy", {"ID": "x", "Name": "p"}, "Cannot specify the ID"),
        ("PUT", "/v1/acl/token", {"Policies": [{"Name": "none"}]}, "does not exist"),
        ("PUT", "/v1/acl/token", {"Policies": [{"ID": "none"}]}, "does not exist"),
        ("PUT", "/v1/acl/token", {"Roles": [{"Name": "none"}]}, "does not exist"),
        ("PUT", "/v1/acl/token", {"ExpirationTTL": {"a": 1}}, "not a duration"),
        ("PUT", "/v1/acl/token", {"ExpirationTTL": "10s"}, "between 1m0s and 24h0m0s"),
        ("PUT", "/v1/acl/token", {"SecretID": "not-a-uuid"}, "not a valid UUID"),
        ("PUT", "/v1/acl/token", {"Policies": "x"}, "list of objects"),
        ("PUT", "/v1/acl/token/nope", {}, "Cannot find token"),
        (
            "PUT",
            "/v1/acl/role",
            {"Name": "r", "ServiceIdentities": [{"ServiceName": "A B"}]},
            "invalid name",
        ),
        ("DELETE", "/v1/acl/policy/00000000-0000-0000-0000-000000000001", None, "not permitted"),
    ],
)
def test_bad_input_is_400_saying_why(method: str, target: str, body: object, says: str) -> None:
    status, text = _send(make_api(make_store(), token="root"), method, target, body)
    assert status == 400 and says in text


def test_unknown_ids_are_acl_not_found_and_acl_off_is_401() -> None:
    api = make_api(make_store(), token="root")
    for target in (
        "/v1/acl/policy/x",
        "/v1/acl/policy/name/x",
        "/v1/acl/role/x",
        "/v1/acl/token/x",
    ):
        assert _send(api, "GET", target) == (403, "ACL not found")
    off = make_api(make_store())
    for method, target in [
        ("GET", "/v1/acl/policies"),
        ("GET", "/v1/acl/tokens"),
        ("GET", "/v1/acl/roles"),
        ("PUT", "/v1/acl/policy"),
        ("PUT", "/v1/acl/token"),
        ("PUT", "/v1/acl/role"),
        ("GET", "/v1/acl/token/x"),
        ("DELETE", "/v1/acl/policy/x"),
        ("GET", "/v1/acl/role/name/x"),
        ("PUT", "/v1/acl/token/x/clone"),
    ]:
        assert _send(off, method, target) == (401, "ACL support disabled"), target


def test_state_is_rebuilt_from_its_records() -> None:
    records: list[dict[str, object]] = []
    log = IndexLog(None, WatchHub())
    log.record = records.append  # type: ignore[method-assign]
    state = AclState(log)
    policy = state.set_policy(
        Policy(
            "p1",
            "kv",
            rules_text='key "a" { policy = "write" }',
            rules=Rules.parse_text('key "a" { policy = "write" }'),
        )
    )
    state.set_token(Token("acc", "sec", policies=[policy.id], service_identities=["web"]))
    state.set_token(Token("gone", "sec2"))
    state.delete_token("gone")
    again = AclState(IndexLog(None, WatchHub()))
    for record in records:
        if record["o"] == "idx":
            continue  # the index log's own records
        again.replay(json.loads(json.dumps(record)))
    authz = again.resolve("sec")
    assert authz is not None and authz.allows("key", "a", Access.WRITE)
    assert authz.allows("service", "web", Access.WRITE)
    assert not authz.allows("service", "billing", Access.WRITE)
    assert again.resolve("sec2") is None
    snapshot = AclState(IndexLog(None, WatchHub()))
    snapshot.restore(json.loads(json.dumps(again.dump())))
    assert snapshot.resolve("sec") is not None and set(snapshot.tokens) == {"acc"}
