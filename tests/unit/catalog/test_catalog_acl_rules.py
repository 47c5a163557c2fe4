"""ACL in process: Consul's rule precedence, the tokens file, and the enforcement table
(every route has an entry; listings filtered, one object refused, DNS by its token)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from catalog_fakes import call, header, make_api, make_store

from leapfrog.catalog._acl import (
    ANONYMOUS_ID,
    Access,
    AclConfig,
    AclError,
    Authorizer,
    NamedToken,
    Rules,
    UnknownToken,
)
from leapfrog.catalog._acl_enforce import AclGuard
from leapfrog.catalog._api import Api
from leapfrog.catalog._connect_ca import CertificateAuthority
from leapfrog.catalog._dnsview import StoreDnsView

R, W = Access.READ, Access.WRITE


def authz(rules: dict[str, Any]) -> Authorizer:
    return Authorizer("a", Rules.parse(rules))


def test_exact_beats_prefix_and_the_longest_prefix_wins() -> None:
    token = authz(
        {
            "key_prefix": {"": {"policy": "read"}, "app/": {"policy": "write"}},
            "key": {"app/locked": {"policy": "deny"}},
            "service": {"web": {"policy": "write"}},
        }
    )
    assert token.allows("key", "anything", R) and not token.allows("key", "anything", W)
    assert token.allows("key", "app/x", W) and token.allows("key", "app/x", R)
    assert not token.allows("key", "app/locked", R)
    assert token.allows("service", "web", W) and not token.allows("service", "webby", R)
    assert not token.allows("node", "n", R) and not token.allows("operator", "", R)
    # A recursive delete needs write on every key under the prefix.
    assert not token.allows_prefix("key", "app/", W)
    assert authz({"key_prefix": {"app/": {"policy": "write"}}}).allows_prefix("key", "app/", W)


def test_management_and_anonymous() -> None:
    config = AclConfig("root", (), anonymous_read=False)
    assert config.resolve("root").management
    anonymous = config.resolve("")
    assert anonymous.anonymous and anonymous.accessor == ANONYMOUS_ID
    assert not anonymous.allows("key", "k", R)
    assert AclConfig("root", (), anonymous_read=True).resolve("").allows("key", "k", R)
    assert not AclConfig("root", (), anonymous_read=True).resolve("").allows("key", "k", W)
    with pytest.raises(UnknownToken):
        config.resolve("nobody")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tokens": {"x": {"SecretID": "s", "Rules": {"keys": {}}}}}, "'keys' is not a rule"),
        ({"tokens": {"x": {"SecretID": "s", "Rules": {"key": {"k": {"policy": "all"}}}}}}, "'all'"),
        ({"tokens": {"x": {"SecretID": "s", "Rules": {"key": {"k": {"policy": "list"}}}}}}, "list"),
        ({"tokens": {"x": {"Rules": {}}}}, "tokens.x.SecretID"),
        ({"tokens": []}, "expected"),
    ],
)
def test_a_bad_tokens_file_says_where(data: Any, message: str) -> None:
    with pytest.raises(AclError, match=message):
        AclConfig.parse_tokens(data, "tokens.json")


def test_two_tokens_may_not_share_a_secret() -> None:
    with pytest.raises(AclError, match="same secret"):
        AclConfig("s", (NamedToken("x", "s", Rules()),))


def test_every_route_has_an_acl_entry(tmp_path: Path) -> None:
    store = make_store()
    ca = CertificateAuthority(tmp_path, "dc1", store.log, 3600.0)
    api = make_api(store, token="root", ca=ca)
    paths = [*api._exact, *(r.path for r in api._prefixes)]
    assert paths and [p for p in paths if not AclGuard.knows(p)] == []


READER = NamedToken(
    "reader",
    "reader-secret",
    Rules.parse(
        {
            "service": {"web": {"policy": "read"}},
            "node_prefix": {"": {"policy": "read"}},
            "key_prefix": {"public/": {"policy": "read"}},
        }
    ),
)


async def populated() -> Api:
    store = make_store()
    api = make_api(store, token="root", anonymous_read=False, tokens=(READER,))
    for name in ("web", "db"):
        body = json.dumps({"Name": name, "Check": {"TTL": "60s"}}).encode()
        assert (
            await call(api, "PUT", "/v1/agent/service/register", body, X_Consul_Token="root")
        ).status == 200
    for key in ("public/a", "secret/b"):
        assert (await call(api, "PUT", f"/v1/kv/{key}", b"v", X_Consul_Token="root")).status == 200
    return api


def test_listings_are_filtered_and_the_header_goes_only_to_token_holders() -> None:
    async def main() -> None:
        api = await populated()
        reader = await call(api, "GET", "/v1/catalog/services", X_Consul_Token="reader-secret")
        assert list(json.loads(reader.body)) == ["web"]
        assert header(reader, "X-Consul-Results-Filtered-By-ACLs") == "true"
        anonymous = await call(api, "GET", "/v1/catalog/services")
        assert json.loads(anonymous.body) == {}
        assert header(anonymous, "X-Consul-Results-Filtered-By-ACLs") is None
        root = await call(api, "GET", "/v1/catalog/services", X_Consul_Token="root")
        assert header(root, "X-Consul-Results-Filtered-By-ACLs") is None
        tree = await call(api, "GET", "/v1/kv/?recurse", X_Consul_Token="reader-secret")
        assert [e["Key"] for e in json.loads(tree.body)] == ["public/a"]
        assert (
            await call(api, "GET", "/v1/kv/secret/?recurse", X_Consul_Token="reader-secret")
        ).status == 404

    asyncio.run(main())


def test_transactions_refuse_writes_and_hide_reads() -> None:
    async def main() -> None:
        api = await populated()
        ops = [
            {"KV": {"Verb": "get", "Key": "public/a"}},
            {"KV": {"Verb": "get", "Key": "secret/b"}},
        ]
        answer = await call(
            api, "PUT", "/v1/txn", json.dumps(ops).encode(), X_Consul_Token="reader-secret"
        )
        assert answer.status == 200
        assert [r["KV"]["Key"] for r in json.loads(answer.body)["Results"]] == ["public/a"]
        write = [{"KV": {"Verb": "set", "Key": "public/a", "Value": "eA=="}}]
        refused = await call(
            api, "PUT", "/v1/txn", json.dumps(write).encode(), X_Consul_Token="reader-secret"
        )
        assert refused.status == 409
        (error,) = json.loads(refused.body)["Errors"]
        assert (
            error["OpIndex"] == 0
            and "lacks permission 'key:write' on \"public/a\"" in error["What"]
        )

    asyncio.run(main())


def test_dns_sees_what_its_reader_may_read() -> None:
    async def main() -> None:
        api = await populated()
        store = api.store
        assert StoreDnsView(store, READER.authorizer).dns_instances("web", None) is not None
        assert StoreDnsView(store, READER.authorizer).dns_instances("db", None) is None
        anonymous = AclConfig("root").anonymous
        assert StoreDnsView(store, anonymous).dns_instances("web", None) is None
        assert StoreDnsView(store, anonymous).node_address(store.node_name) is None
        assert StoreDnsView(store, None).dns_instances("db", None) is not None

    asyncio.run(main())


def test_a_write_with_a_filter_parameter_runs_once() -> None:
    """The filtered-header check answers reads again without ?filter; never a write."""
    writer = NamedToken("writer", "w", Rules.parse({"key_prefix": {"": {"policy": "write"}}}))

    async def main() -> None:
        api = make_api(make_store(), token="root", anonymous_read=False, tokens=(writer,))
        ops = [{"KV": {"Verb": "set", "Key": "once", "Value": "eA=="}}]
        body = json.dumps(ops).encode()
        answer = await call(api, "PUT", "/v1/txn?filter=x", body, X_Consul_Token="w")
        assert answer.status == 200, answer.body
        written = json.loads(answer.body)["Results"][0]["KV"]["ModifyIndex"]
        stored = json.loads((await call(api, "GET", "/v1/kv/once", X_Consul_Token="w")).body)
        assert stored[0]["ModifyIndex"] == written

    asyncio.run(main())
