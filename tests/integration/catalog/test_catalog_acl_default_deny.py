"""ACL as Consul's default-deny, against a real `leapfrog catalog serve`: what an anonymous
caller gets from the catalog, health, KV, agent, session and DNS endpoints (what Consul
answers with `default_policy = "deny"` and an anonymous token without policies), what a
token with narrow rules gets, and the DNS token."""

from __future__ import annotations

import json
from collections.abc import Iterator

import consul
import dns.message
import dns.query
import dns.rcode
import httpx
import pytest

from tests.integration.catalog.conftest import CatalogProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ADMIN = "management-secret"
READER = "reader-secret"
DNS = "dns-secret"
FILTERED = "X-Consul-Results-Filtered-By-ACLs"
ANONYMOUS_TAIL = ". The anonymous token is used implicitly when a request does not specify a token."


def _populate(proc: CatalogProcess) -> None:
    admin = proc.client(token=ADMIN)
    for name, port in (("web", 8080), ("db", 5432)):
        assert admin.agent.service.register(
            name, service_id=f"{name}1", port=port, check=consul.Check.ttl("60s")
        )
        assert admin.agent.check.ttl_pass(f"service:{name}1")
    assert admin.kv.put("secret/db-password", "hunter2")
    assert admin.kv.put("public/motd", "hello")
    admin.session.create(name="held", lock_delay=0)


@pytest.fixture(scope="module")
def tokens_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogProcess]:
    """A catalog with a narrow reader token and a DNS token (Consul's acl.tokens.dns)."""
    base = tmp_path_factory.mktemp("catalog-tokens")
    (base / "management").write_text(ADMIN + "\n")
    (base / "management").chmod(0o600)
    tokens = {
        "tokens": {
            "reader": {
                "SecretID": READER,
                "Rules": {
                    "service": {"web": {"policy": "read"}},
                    "node_prefix": {"": {"policy": "read"}},
                    "key_prefix": {"public/": {"policy": "read"}},
                },
            },
            "dns": {
                "SecretID": DNS,
                "Rules": {
                    "service_prefix": {"": {"policy": "read"}},
                    "node_prefix": {"": {"policy": "read"}},
                },
            },
        }
    }
    (base / "tokens.json").write_text(json.dumps(tokens))
    (base / "tokens.json").chmod(0o600)
    proc = CatalogProcess(
        base / "data",
        "--acl-token-file",
        str(base / "management"),
        "--acl-tokens-file",
        str(base / "tokens.json"),
    )
    proc.start()
    _populate(proc)
    yield proc
    assert proc.stop() == 0


@pytest.fixture(scope="module")
def deny_proc(acl_proc: CatalogProcess) -> CatalogProcess:
    """The session's ACL catalog (management token only, no anonymous read) with data."""
    _populate(acl_proc)
    return acl_proc


def get(proc: CatalogProcess, path: str, token: str = "") -> httpx.Response:
    headers = {"X-Consul-Token": token} if token else {}
    return httpx.get(f"http://{proc.http_addr}{path}", headers=headers, timeout=10)


def ask_dns(proc: CatalogProcess, name: str, kind: str = "SRV") -> dns.message.Message:
    query = dns.message.make_query(name, kind)
    return dns.query.udp(query, "127.0.0.1", port=proc.dns_port, timeout=5)


@pytest.mark.parametrize(
    ("path", "empty"),
    [
        ("/v1/catalog/services", {}),
        ("/v1/catalog/service/web", []),
        ("/v1/catalog/nodes", []),
        ("/v1/catalog/node/itest", None),
        ("/v1/health/service/web", []),
        ("/v1/health/checks/web", []),
        ("/v1/health/state/any", []),
        ("/v1/health/node/itest", []),
        ("/v1/agent/services", {}),
        ("/v1/agent/checks", {}),
        ("/v1/agent/members", []),
        ("/v1/session/list", []),
        ("/v1/kv/?keys", []),
    ],
)
def test_anonymous_listings_answer_200_and_nothing(
    deny_proc: CatalogProcess, path: str, empty: object
) -> None:
    anonymous = get(deny_proc, path)
    assert anonymous.status_code == 200, anonymous.text
    assert anonymous.json() == empty
    # Consul tells only callers with a token that something was filtered.
    assert FILTERED not in anonymous.headers
    if not path.startswith("/v1/agent/"):  # agent endpoints have no index, as in Consul
        assert int(anonymous.headers["X-Consul-Index"]) >= 1
    assert get(deny_proc, path, ADMIN).json() not in (empty, None)


@pytest.mark.parametrize(
    ("path", "permission", "name"),
    [
        ("/v1/kv/secret/db-password", "key:read", "secret/db-password"),
        ("/v1/kv/secret/db-password?raw", "key:read", "secret/db-password"),
        ("/v1/agent/self", "agent:read", "itest"),
        ("/v1/agent/metrics", "agent:read", "itest"),
        ("/v1/agent/service/web1", "service:read", "web"),
        ("/v1/agent/health/service/id/web1", "service:read", "web"),
        ("/v1/agent/health/service/name/web", "service:read", "web"),
    ],
)
def test_anonymous_reads_of_one_object_are_403(
    deny_proc: CatalogProcess, path: str, permission: str, name: str
) -> None:
    anonymous = get(deny_proc, path)
    assert anonymous.status_code == 403
    assert anonymous.text == (
        f"Permission denied: anonymous token lacks permission '{permission}' on \"{name}\""
        + ANONYMOUS_TAIL
    )
    assert "hunter2" not in anonymous.text
    assert get(deny_proc, path, ADMIN).status_code == 200


def test_anonymous_kv_listings_are_404_as_empty_ones(deny_proc: CatalogProcess) -> None:
    assert get(deny_proc, "/v1/kv/secret/?recurse").status_code == 404
    assert get(deny_proc, "/v1/kv/secret/?keys").status_code == 404
    with pytest.raises(consul.ACLPermissionDenied):
        deny_proc.client().kv.get("secret/db-password")
    assert deny_proc.client().kv.get("secret/", recurse=True)[1] is None


def test_status_answers_without_a_token(deny_proc: CatalogProcess) -> None:
    assert get(deny_proc, "/v1/status/leader").json().endswith(":8300")
    assert len(get(deny_proc, "/v1/status/peers").json()) == 1
    assert get(deny_proc, "/v1/catalog/datacenters").json() == ["dc1"]


def test_anonymous_writes_are_403(deny_proc: CatalogProcess) -> None:
    anonymous = deny_proc.client()
    with pytest.raises(consul.ACLPermissionDenied, match="'key:write' on \"public/motd\""):
        anonymous.kv.put("public/motd", "defaced")
    with pytest.raises(consul.ACLPermissionDenied, match="'service:write' on \"evil\""):
        anonymous.agent.service.register("evil")
    with pytest.raises(consul.ACLPermissionDenied, match="'service:write' on \"web\""):
        anonymous.agent.service.deregister("web1")
    with pytest.raises(consul.ACLPermissionDenied, match="'node:write'"):
        anonymous.agent.maintenance(True)
    assert deny_proc.client(token=ADMIN).kv.get("public/motd")[1]["Value"] == b"hello"


def test_dns_answers_nothing_to_the_anonymous_token(deny_proc: CatalogProcess) -> None:
    answer = ask_dns(deny_proc, "web.service.consul")
    assert answer.rcode() == dns.rcode.NXDOMAIN and not answer.answer
    assert not ask_dns(deny_proc, "itest.node.consul", "A").answer


def test_dns_answers_what_its_own_token_reads(tokens_proc: CatalogProcess) -> None:
    answer = ask_dns(tokens_proc, "web.service.consul")
    assert answer.rcode() == dns.rcode.NOERROR
    (srv,) = [rr for rrset in answer.answer for rr in rrset]
    assert srv.port == 8080
    # ... while HTTP callers without a token still see nothing.
    assert get(tokens_proc, "/v1/health/service/web").json() == []


def test_a_narrow_token_sees_its_part_and_is_told_the_rest_was_filtered(
    tokens_proc: CatalogProcess,
) -> None:
    services = get(tokens_proc, "/v1/catalog/services", READER)
    assert services.status_code == 200 and list(services.json()) == ["web"]
    assert services.headers[FILTERED] == "true"
    web = get(tokens_proc, "/v1/health/service/web", READER)
    assert [e["Service"]["ID"] for e in web.json()] == ["web1"] and FILTERED not in web.headers
    assert get(tokens_proc, "/v1/health/service/db", READER).json() == []
    keys = get(tokens_proc, "/v1/kv/?keys", READER)
    assert keys.json() == ["public/motd"] and keys.headers[FILTERED] == "true"
    # ?filter cannot probe what is hidden: the header tells the same either way.
    probe = get(tokens_proc, '/v1/agent/services?filter=Service=="web"', READER)
    assert list(probe.json()) == ["web1"] and probe.headers[FILTERED] == "true"
    denied = get(tokens_proc, "/v1/kv/secret/db-password", READER)
    assert denied.status_code == 403
    assert denied.text.startswith("Permission denied: token with AccessorID '")
    assert denied.text.endswith("' lacks permission 'key:read' on \"secret/db-password\"")
    assert READER not in denied.text
    with pytest.raises(consul.ACLPermissionDenied, match="'key:write'"):
        tokens_proc.client(token=READER).kv.put("public/motd", "x")
    me = tokens_proc.client(token=READER).acl.token.read_self()
    assert me["SecretID"] == READER and [p["Name"] for p in me["Policies"]] == ["reader"]


def test_cached_answers_are_not_shared_between_tokens(tokens_proc: CatalogProcess) -> None:
    """The reply cache of blocking reads is keyed by token too: the management token's
    answer, cached first, is never served to another token."""
    index = int(get(tokens_proc, "/v1/catalog/services", ADMIN).headers["X-Consul-Index"])
    path = f"/v1/catalog/services?index={index - 1}"
    assert set(get(tokens_proc, path, ADMIN).json()) == {"web", "db"}
    assert get(tokens_proc, path).json() == {}
    assert set(get(tokens_proc, path, READER).json()) == {"web"}


def test_an_unknown_token_is_acl_not_found(tokens_proc: CatalogProcess) -> None:
    answer = get(tokens_proc, "/v1/catalog/services", "nobody-issued-this")
    assert (answer.status_code, answer.text) == (403, "ACL not found")
