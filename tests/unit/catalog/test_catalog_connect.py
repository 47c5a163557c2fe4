"""The service-mesh API in process: the CA's root and leaves (verified with
`cryptography`), rotation and blocking leaf queries, intentions with Consul's
precedence, `authorize`, bad input answered 400, ACL on leaves and intentions, and the
state rebuilt from disk."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from catalog_fakes import Clock, call, make_api, make_store
from cryptography import x509

from leapfrog.catalog._acl import Access, NamedToken, Rules, service_identity_rules
from leapfrog.catalog._api import Api
from leapfrog.catalog._connect_ca import CA_FILE, CertificateAuthority, parse_spiffe
from leapfrog.catalog._intentions import (
    Intention,
    IntentionError,
    IntentionState,
    intentions_from_callers,
    precedence,
    validate,
)
from leapfrog.catalog._store import Store

ROOT = "root-secret"


def _api(
    tmp_path: Path,
    clock: Clock | None = None,
    token: str | None = ROOT,
    tokens: tuple[NamedToken, ...] = (),
    policy: str | None = None,
) -> tuple[Api, Store, CertificateAuthority]:
    store = make_store()
    tmp_path.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority(
        tmp_path, "dc1", store.log, 3600.0, clock=clock or (lambda: 1_000_000_000.0)
    )
    api = make_api(
        store, token=token, anonymous_read=False, tokens=tokens, ca=ca, intention_policy=policy
    )
    return api, store, ca


def _get(api: Api, method: str, target: str, body: Any = None, token: str = ROOT) -> Any:
    raw = b"" if body is None else json.dumps(body).encode()

    async def main() -> Any:
        return await call(api, method, target, raw, X_Consul_Token=token)

    return asyncio.run(main())


def _json(response: Any) -> Any:
    assert response.status == 200, response.body
    return json.loads(response.body)


# --- intentions, without HTTP --------------------------------------------------------


def test_precedence_is_consuls() -> None:
    assert precedence("web", "db") == 9
    assert precedence("*", "db") == 8
    assert precedence("web", "*") == 6
    assert precedence("*", "*") == 5


def test_the_most_specific_intention_decides(tmp_path: Path) -> None:
    store = make_store()
    state = store.intentions
    state.upsert(Intention("*", "db", "allow"))
    state.upsert(Intention("web", "db", "deny"))
    state.upsert(Intention("*", "*", "deny"))
    assert not state.decide("web", "db", True).allowed
    assert state.decide("web", "db", True).reason == "Matched L4 intention: web => db (deny)"
    assert state.decide("api", "db", False).allowed
    assert not state.decide("api", "cache", True).allowed
    store.intentions.delete("*", "*")
    nothing = state.decide("api", "cache", True)
    assert nothing.allowed and nothing.intention is None
    assert [i.describe() for i in state.match("destination", "db")] == [
        "web => db (deny)",
        "* => db (allow)",
    ]


@pytest.mark.parametrize(
    ("ixn", "says"),
    [
        (Intention("we*", "db", "allow"), "SourceName: wildcard character '*' cannot be used"),
        (Intention("web", "", "allow"), "DestinationName must be set"),
        (Intention("web", "db", "permit"), "Action must be set to 'allow' or 'deny'"),
        (Intention("web", "db", "allow", source_type="peer"), "SourceType must be set"),
        (Intention("web", "db", "allow", description="x" * 600), "Description exceeds"),
    ],
)
def test_malformed_intentions_say_why(ixn: Intention, says: str) -> None:
    with pytest.raises(IntentionError) as caught:
        validate(ixn)
    assert says in str(caught.value)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(IntentionError) as caught:
        validate(Intention("", "d*", "maybe"))
    text = str(caught.value)
    assert "SourceName must be set" in text and "DestinationName" in text and "Action" in text


def test_callers_become_allow_intentions() -> None:
    made = intentions_from_callers({"api": ["web", "worker"], "db": ["api"], "status": ["*"]})
    assert [i.describe() for i in made] == [
        "api => db (allow)",
        "web => api (allow)",
        "worker => api (allow)",
        "* => status (allow)",
    ]
    with pytest.raises(IntentionError, match="partial values"):
        intentions_from_callers({"api": ["we*"]})


def test_intentions_are_rebuilt_from_the_journal(tmp_path: Path) -> None:
    async def write() -> None:
        store = make_store(tmp_path)
        store.intentions.upsert(Intention("web", "db", "allow", meta={"k": "v"}))
        store.intentions.upsert(Intention("api", "db", "deny"))
        store.intentions.delete("api", "db")
        assert store.log.journal is not None
        await store.log.committed()
        await store.log.journal.close()

    async def read() -> Store:
        again = make_store(tmp_path)
        assert again.log.journal is not None
        await again.log.journal.close()
        return again

    asyncio.run(write())
    again = asyncio.run(read())
    assert [i.describe() for i in again.intentions.all()] == ["web => db (allow)"]
    assert again.intentions.all()[0].meta == {"k": "v"}
    fresh = IntentionState(again.log)
    fresh.restore(again.intentions.dump())
    assert fresh.by_key.keys() == again.intentions.by_key.keys()


def test_service_rules_grant_intention_read_and_write_only_when_asked() -> None:
    rules = Rules.parse_text(
        'service "web" { policy = "write" }\n'
        'service "db" { policy = "read" intentions = "write" }\n'
        'service_prefix "" { policy = "deny" }'
    )
    assert rules.level("intention", "web") == Access.READ
    assert rules.level("intention", "db") == Access.WRITE
    assert rules.level("intention", "other") == Access.DENY
    assert service_identity_rules("web").level("intention", "api") == Access.READ
    with pytest.raises(ValueError, match="not a rule"):
        Rules.parse({"intention": {"x": {"policy": "write"}}})


# --- the CA --------------------------------------------------------------------------


def test_a_leaf_verifies_against_the_root_and_names_its_service(tmp_path: Path) -> None:
    api, _store, ca = _api(tmp_path)
    roots = _json(_get(api, "GET", "/v1/agent/connect/ca/roots"))
    assert roots == _json(_get(api, "GET", "/v1/connect/ca/roots"))
    assert roots["TrustDomain"].endswith(".consul")
    (root,) = roots["Roots"]
    assert root["Active"] and root["ID"] == roots["ActiveRootID"]
    root_cert = x509.load_pem_x509_certificate(root["RootCert"].encode())

    leaf = _json(_get(api, "GET", "/v1/agent/connect/ca/leaf/web"))
    cert = x509.load_pem_x509_certificate(leaf["CertPEM"].encode())
    cert.verify_directly_issued_by(root_cert)
    uri = f"spiffe://{roots['TrustDomain']}/ns/default/dc/dc1/svc/web"
    assert leaf["ServiceURI"] == uri and leaf["Service"] == "web"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [uri]
    assert "web" in san.get_values_for_type(x509.DNSName)
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {u._name for u in usages} >= {"serverAuth", "clientAuth"}
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime.total_seconds() == pytest.approx(3600 + 60)
    assert leaf["PrivateKeyPEM"].startswith("-----BEGIN PRIVATE KEY-----")
    assert parse_spiffe(uri) is not None and parse_spiffe(uri).service == "web"  # type: ignore[union-attr]
    # The same leaf until it is due for rotation.
    assert (
        _json(_get(api, "GET", "/v1/agent/connect/ca/leaf/web"))["SerialNumber"]
        == leaf["SerialNumber"]
    )
    assert ca.leaf("web").serial == leaf["SerialNumber"]


def test_a_leaf_is_replaced_before_it_expires_and_blocking_queries_see_it(
    tmp_path: Path,
) -> None:
    clock = Clock()
    clock.now = 2_000_000_000.0
    api, _store, ca = _api(tmp_path, clock)
    first = ca.leaf("web")
    assert first.valid_after + 0.6 * 3600 <= first.rotate_at <= first.valid_before - 0.1 * 3600
    clock.now = first.rotate_at + 1
    response = _get(api, "GET", f"/v1/agent/connect/ca/leaf/web?index={first.index}&wait=5s")
    second = _json(response)
    assert second["SerialNumber"] != first.serial
    assert second["ModifyIndex"] > first.index
    assert dict(response.headers)["X-Consul-Index"] == str(second["ModifyIndex"])
    assert clock.now < first.valid_before  # replaced while the old one was still valid


def test_the_ca_key_is_kept_0600_and_reloaded(tmp_path: Path) -> None:
    store = make_store()
    tmp_path.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority(tmp_path, "dc1", store.log, 60.0)
    path = tmp_path / CA_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = CertificateAuthority(tmp_path, "dc1", store.log, 60.0)
    assert again.root_pem == ca.root_pem and again.trust_domain == ca.trust_domain
    path.write_text("{}")
    with pytest.raises(ValueError, match="cannot be read"):
        CertificateAuthority(tmp_path, "dc1", store.log, 60.0)


# --- the HTTP API --------------------------------------------------------------------


def test_intentions_through_the_exact_and_legacy_apis(tmp_path: Path) -> None:
    api, _store, _ca = _api(tmp_path)
    ok = _get(
        api, "PUT", "/v1/connect/intentions/exact?source=web&destination=db", {"Action": "allow"}
    )
    assert _json(ok) is True
    got = _json(_get(api, "GET", "/v1/connect/intentions/exact?source=web&destination=db"))
    assert got["SourceName"] == "web" and got["Precedence"] == 9 and "ID" not in got
    made = _json(
        _get(
            api,
            "POST",
            "/v1/connect/intentions",
            {"SourceName": "*", "DestinationName": "db", "Action": "deny"},
        )
    )
    by_id = _json(_get(api, "GET", f"/v1/connect/intentions/{made['ID']}"))
    assert by_id["SourceName"] == "*" and by_id["Precedence"] == 8
    again = _get(
        api,
        "POST",
        "/v1/connect/intentions",
        {"SourceName": "*", "DestinationName": "db", "Action": "allow"},
    )
    assert again.status == 409 and b"duplicate intention found: * => db (deny)" in again.body
    listing = _json(_get(api, "GET", "/v1/connect/intentions"))
    assert [(i["SourceName"], i["DestinationName"]) for i in listing] == [
        ("web", "db"),
        ("*", "db"),
    ]
    matched = _json(_get(api, "GET", "/v1/connect/intentions/match?by=destination&name=db"))
    assert [i["SourceName"] for i in matched["db"]] == ["web", "*"]
    check = "/v1/connect/intentions/check?source={}&destination=db"
    assert _json(_get(api, "GET", check.format("web"))) == {"Allowed": True}
    assert _json(_get(api, "GET", check.format("api"))) == {"Allowed": False}
    assert _json(_get(api, "DELETE", "/v1/connect/intentions/exact?source=web&destination=db"))
    assert _json(_get(api, "GET", check.format("web"))) == {"Allowed": False}
    assert _get(api, "GET", "/v1/connect/intentions/exact?source=web&destination=db").status == 404
    assert _json(_get(api, "DELETE", f"/v1/connect/intentions/{made['ID']}")) is True
    assert _json(_get(api, "GET", "/v1/connect/intentions")) == []


@pytest.mark.parametrize(
    ("method", "target", "body", "says"),
    [
        (
            "PUT",
            "/v1/connect/intentions/exact?source=web&destination=db",
            {"Action": "permit"},
            "Action must be set",
        ),
        (
            "PUT",
            "/v1/connect/intentions/exact?source=w*&destination=db",
            {"Action": "allow"},
            "partial values",
        ),
        (
            "PUT",
            "/v1/connect/intentions/exact?destination=db",
            {"Action": "allow"},
            "'source' not set",
        ),
        (
            "PUT",
            "/v1/connect/intentions/exact?source=ns2/web&destination=db",
            {"Action": "allow"},
            "'default'",
        ),
        (
            "PUT",
            "/v1/connect/intentions/exact?source=web&destination=db",
            "[]",
            "must be a JSON object",
        ),
        (
            "PUT",
            "/v1/connect/intentions/exact?source=web&destination=db",
            {"Permissions": [{"Action": "allow"}]},
            "L7",
        ),
        (
            "POST",
            "/v1/connect/intentions",
            {"SourceName": "web", "Action": "allow"},
            "DestinationName must be set",
        ),
        ("GET", "/v1/connect/intentions/match?by=sideways&name=db", None, "'by'"),
        (
            "POST",
            "/v1/agent/connect/authorize",
            {"ClientCertURI": "spiffe://x/ns/default/dc/dc1/svc/a"},
            "Target",
        ),
        (
            "POST",
            "/v1/agent/connect/authorize",
            {"Target": "db", "ClientCertURI": "https://x"},
            "not a valid Connect",
        ),
    ],
)
def test_bad_input_is_400_saying_why(
    tmp_path: Path, method: str, target: str, body: Any, says: str
) -> None:
    api, _store, _ca = _api(tmp_path)
    response = _get(api, method, target, json.loads(body) if isinstance(body, str) else body)
    assert response.status == 400, response.body
    assert says in response.body.decode()


def test_authorize_answers_with_consuls_reasons(tmp_path: Path) -> None:
    api, store, ca = _api(tmp_path)
    uri = ca.leaf("web").uri
    ask = {"Target": "db", "ClientCertURI": uri, "ClientCertSerial": ca.leaf("web").serial}
    denied = _json(_get(api, "POST", "/v1/agent/connect/authorize", ask))
    assert denied == {"Authorized": False, "Reason": "Default behavior configured by ACLs"}
    store.intentions.upsert(Intention("web", "db", "allow"))
    allowed = _json(_get(api, "POST", "/v1/agent/connect/authorize", ask))
    assert allowed == {"Authorized": True, "Reason": "Matched L4 intention: web => db (allow)"}
    foreign = dict(ask, ClientCertURI="spiffe://11111111-2222.consul/ns/default/dc/dc1/svc/web")
    refused = _json(_get(api, "POST", "/v1/agent/connect/authorize", foreign))
    assert not refused["Authorized"] and "trust domain" in refused["Reason"]


def test_the_default_policy_follows_acl_or_the_setting(tmp_path: Path) -> None:
    open_api, _s, ca = _api(tmp_path / "open", token=None)
    ask = {"Target": "db", "ClientCertURI": ca.leaf("web").uri}
    assert _json(_get(open_api, "POST", "/v1/agent/connect/authorize", ask))["Authorized"]
    deny_api, _s, ca = _api(tmp_path / "deny", token=None, policy="deny")
    ask = {"Target": "db", "ClientCertURI": ca.leaf("web").uri}
    answer = _json(_get(deny_api, "POST", "/v1/agent/connect/authorize", ask))
    assert answer == {"Authorized": False, "Reason": "Default intention policy"}


def test_acl_a_service_gets_its_own_leaf_and_writes_intentions_only_when_granted(
    tmp_path: Path,
) -> None:
    web = NamedToken("web", "web-secret", service_identity_rules("web"))
    dba = NamedToken(
        "dba",
        "dba-secret",
        Rules.parse_text('service "db" { policy = "read" intentions = "write" }'),
    )
    api, _store, _ca = _api(tmp_path, tokens=(web, dba))
    assert _get(api, "GET", "/v1/agent/connect/ca/leaf/web", token="web-secret").status == 200
    other = _get(api, "GET", "/v1/agent/connect/ca/leaf/db", token="web-secret")
    assert other.status == 403 and b"service:write" in other.body
    assert _get(api, "GET", "/v1/connect/ca/roots", token="").status == 200  # public, as Consul's
    put = "/v1/connect/intentions/exact?source=web&destination=db"
    refused = _get(api, "PUT", put, {"Action": "allow"}, token="web-secret")
    assert refused.status == 403 and b"intention:write" in refused.body
    assert _get(api, "PUT", put, {"Action": "allow"}, token="dba-secret").status == 200
    # service:write on the target is what authorize needs.
    ask = {"Target": "db", "ClientCertURI": "spiffe://x.consul/ns/default/dc/dc1/svc/web"}
    assert _get(api, "POST", "/v1/agent/connect/authorize", ask, token="web-secret").status == 403
    ask["Target"] = "web"
    assert _get(api, "POST", "/v1/agent/connect/authorize", ask, token="web-secret").status == 200
    # web's token reads intentions (service read), so it sees the listing.
    listing = _json(_get(api, "GET", "/v1/connect/intentions", token="web-secret"))
    assert [i["DestinationName"] for i in listing] == ["db"]
