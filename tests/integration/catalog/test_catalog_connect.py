"""Consul's service mesh against a real catalog process (ACL on, 10 s leaves), through
HashiCorp's Go `api` package (tools/consulapi `connect`) and py-consul: the CA's roots
and leaves (a leaf verifies against the roots, and two leaves complete a real mutual-TLS
handshake with `ssl`), a leaf replaced before it expires and seen by a blocking query,
intentions with Consul's precedence and their effect on the very next authorize, bad
input refused 400, a foreign trust domain refused, ACL on leaves, and everything kept
across a restart."""

from __future__ import annotations

import json
import socket
import ssl
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import consul
import httpx
import pytest
from cryptography import x509

from leapfrog.testing import consul_tool
from tests.integration.catalog.conftest import CatalogProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = "connect-root"
LEAF_TTL = 10.0


@pytest.fixture(scope="module")
def proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogProcess]:
    base = tmp_path_factory.mktemp("catalog-connect")
    token_file = base / "token"
    token_file.write_text(ROOT + "\n")
    token_file.chmod(0o600)
    catalog = CatalogProcess(
        base / "data", "--acl-token-file", str(token_file), "--leaf-cert-ttl", "10s"
    )
    catalog.start()
    yield catalog
    if catalog.proc is not None:
        assert catalog.stop() == 0


def _http(proc: CatalogProcess, token: str = ROOT) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://{proc.http_addr}", headers={"X-Consul-Token": token}, timeout=30
    )


def _clean(proc: CatalogProcess) -> None:
    with _http(proc) as http:
        for ixn in http.get("/v1/connect/intentions").json():
            http.delete(
                "/v1/connect/intentions/exact",
                params={"source": ixn["SourceName"], "destination": ixn["DestinationName"]},
            ).raise_for_status()


def test_hashicorps_go_client_drives_the_mesh_api(proc: CatalogProcess) -> None:
    _clean(proc)
    argv = [str(consul_tool("consulapi")), "-addr", proc.http_addr, "-token", ROOT]
    done = subprocess.run(
        [*argv, "connect", "-source", "goweb", "-destination", "godb"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(done.stdout)["results"]
    roots = results["ca_roots"]["value"]
    assert roots == results["agent_ca_roots"]["value"]
    assert results["ca_roots"]["index"] > 0 and roots["TrustDomain"].endswith(".consul")
    assert roots["Roots"][0]["ID"] == roots["ActiveRootID"]
    assert results["ca_config"]["Provider"] == "consul"
    leaf = results["leaf"]["value"]
    assert leaf["ServiceURI"] == f"spiffe://{roots['TrustDomain']}/ns/default/dc/dc1/svc/goweb"
    # The blocking read at the leaf's index waited and gave the same leaf back.
    assert results["leaf_blocking"]["value"]["SerialNumber"] == leaf["SerialNumber"]
    assert results["leaf_blocking_ms"] >= 400
    assert results["intention_get_exact"]["Action"] == "allow"
    assert results["intention_get_exact"]["Meta"] == {"by": "consulapi"}
    assert results["intention_get"]["SourceName"] == "*" and results["intention_create"]
    assert [i["SourceName"] for i in results["intentions"]["value"]] == ["goweb", "*"]
    assert [i["Precedence"] for i in results["intention_match"]["godb"]] == [9, 8]
    assert results["intention_check_source"] is True
    assert results["intention_check_other"] is False
    assert results["authorize_allowed"] == {
        "Authorized": True,
        "Reason": "Matched L4 intention: goweb => godb (allow)",
    }
    assert results["authorize_after_delete"] == {
        "Authorized": False,
        "Reason": "Matched L4 intention: * => godb (deny)",
    }
    assert results["intention_get_missing"] is None  # the client's 404


def test_py_consul_intentions_and_authorize(proc: CatalogProcess) -> None:
    _clean(proc)
    c = proc.client(token=ROOT)
    assert c.connect.intentions.upsert("web", "db", action="allow", description="py") is True
    assert c.connect.intentions.upsert("*", "db", action="deny") is True
    assert c.connect.intentions.read("web", "db")["Description"] == "py"
    assert [i["SourceName"] for i in c.connect.intentions.list()] == ["web", "*"]
    assert [i["SourceName"] for i in c.connect.intentions.match("destination", "db")["db"]] == [
        "web",
        "*",
    ]
    only_web = c.connect.intentions.list(filter_expr='SourceName == "web"')
    assert [i["SourceName"] for i in only_web] == ["web"]
    assert c.connect.intentions.check("web", "db") is True
    assert c.connect.intentions.check("api", "db") is False
    leaf = c.agent.connect.ca.leaf("web")
    auth = c.agent.connect.authorize("db", leaf["ServiceURI"], leaf["SerialNumber"])
    assert auth == {"Authorized": True, "Reason": "Matched L4 intention: web => db (allow)"}
    # A change is what the very next authorize answers.
    started = time.monotonic()
    assert c.connect.intentions.upsert("web", "db", action="deny") is True
    auth = c.agent.connect.authorize("db", leaf["ServiceURI"], leaf["SerialNumber"])
    assert auth == {"Authorized": False, "Reason": "Matched L4 intention: web => db (deny)"}
    assert time.monotonic() - started < 1.0
    assert c.connect.intentions.delete("web", "db") is True
    assert c.connect.intentions.delete("*", "db") is True
    auth = c.agent.connect.authorize("db", leaf["ServiceURI"], leaf["SerialNumber"])
    assert auth == {"Authorized": False, "Reason": "Default behavior configured by ACLs"}
    assert c.connect.ca.roots()["Roots"][0]["Active"] is True
    assert c.agent.connect.ca.roots() == c.connect.ca.roots()


def test_bad_intentions_and_foreign_certificates_are_refused(proc: CatalogProcess) -> None:
    c = proc.client(token=ROOT)
    with pytest.raises(consul.ConsulException, match="Action must be set"):
        c.connect.intentions.upsert("web", "db", action="permit")
    with pytest.raises(consul.ConsulException, match="partial values"):
        c.connect.intentions.upsert("web*", "db", action="allow")
    with pytest.raises(consul.ConsulException, match="L7"):
        c.connect.intentions.upsert("web", "db", permissions=[{"Action": "allow"}])
    with _http(proc) as http:
        bad = http.post("/v1/connect/intentions", content=b'{"SourceName": "web"}')
        assert bad.status_code == 400
        assert "DestinationName must be set" in bad.text and "Action must be set" in bad.text
        nonsense = http.put("/v1/connect/intentions/exact?source=web&destination=db", content=b"[")
        assert nonsense.status_code == 400 and "Request decode failed" in nonsense.text
        foreign = http.post(
            "/v1/agent/connect/authorize",
            json={
                "Target": "db",
                "ClientCertURI": "spiffe://7f0c1c9e-0000-4000-8000-000000000000.consul"
                "/ns/default/dc/dc1/svc/web",
            },
        ).json()
        assert foreign["Authorized"] is False and "trust domain" in foreign["Reason"]
        not_spiffe = http.post(
            "/v1/agent/connect/authorize", json={"Target": "db", "ClientCertURI": "web"}
        )
        assert not_spiffe.status_code == 400 and "not a valid Connect" in not_spiffe.text


def test_a_leaf_needs_service_write_on_its_service(proc: CatalogProcess) -> None:
    c = proc.client(token=ROOT)
    token = c.acl.token.create(description="web", service_identities=[{"ServiceName": "web"}])
    web = proc.client(token=token["SecretID"])
    assert web.agent.connect.ca.leaf("web")["Service"] == "web"
    with pytest.raises(consul.ACLPermissionDenied, match="service:write"):
        web.agent.connect.ca.leaf("db")
    with pytest.raises(consul.ACLPermissionDenied, match="intention:write"):
        web.connect.intentions.upsert("web", "db", action="allow")
    c.acl.token.delete(token["AccessorID"])


def _context(leaf: dict[str, str], roots_pem: str, tmp: Path, server: bool) -> ssl.SSLContext:
    cert, key = tmp / f"{leaf['Service']}.pem", tmp / f"{leaf['Service']}.key"
    cert.write_text(leaf["CertPEM"])
    key.write_text(leaf["PrivateKeyPEM"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    context.load_cert_chain(cert, key)
    context.load_verify_locations(cadata=roots_pem)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def test_two_leaves_complete_a_mutual_tls_handshake(proc: CatalogProcess, tmp_path: Path) -> None:
    c = proc.client(token=ROOT)
    roots_pem = "".join(r["RootCert"] for r in c.connect.ca.roots()["Roots"])
    db, web = c.agent.connect.ca.leaf("db"), c.agent.connect.ca.leaf("web")
    server_ctx = _context(db, roots_pem, tmp_path, server=True)
    client_ctx = _context(web, roots_pem, tmp_path, server=False)
    listener = socket.create_server(("127.0.0.1", 0))
    seen: dict[str, object] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            peer = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"")
            san = peer.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            seen["uri"] = san.get_values_for_type(x509.UniformResourceIdentifier)
            tls.sendall(b"ok")

    thread = threading.Thread(target=serve)
    thread.start()
    with (
        socket.create_connection(listener.getsockname()) as raw,
        client_ctx.wrap_socket(raw, server_hostname="db") as tls,
    ):
        assert tls.recv(2) == b"ok"
    thread.join(10)
    listener.close()
    assert seen["uri"] == [web["ServiceURI"]]


def test_a_leaf_is_replaced_before_it_expires(proc: CatalogProcess) -> None:
    with _http(proc) as http:
        first = http.get("/v1/agent/connect/ca/leaf/rotating")
        index = int(first.headers["X-Consul-Index"])
        old = first.json()
        cert = x509.load_pem_x509_certificate(old["CertPEM"].encode())
        assert (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() == (
            pytest.approx(LEAF_TTL + 60)
        )
        # A blocking query at its index returns with the next one, while the old is valid.
        fresh = http.get(
            "/v1/agent/connect/ca/leaf/rotating", params={"index": index, "wait": "30s"}
        )
        now = time.time()
        assert fresh.status_code == 200
        new = fresh.json()
        assert new["SerialNumber"] != old["SerialNumber"]
        assert int(fresh.headers["X-Consul-Index"]) > index
        assert now < cert.not_valid_after_utc.timestamp()
        roots_pem = http.get("/v1/connect/ca/roots", params={"pem": "true"}).text
    root = x509.load_pem_x509_certificate(roots_pem.encode())
    x509.load_pem_x509_certificate(new["CertPEM"].encode()).verify_directly_issued_by(root)


def test_the_ca_and_intentions_survive_a_restart(proc: CatalogProcess) -> None:
    _clean(proc)
    c = proc.client(token=ROOT)
    c.connect.intentions.upsert("keep", "db", action="allow")
    before = c.connect.ca.roots()
    path = Path(proc.data_dir) / "connect-ca.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert proc.stop() == 0
    proc.start()
    c = proc.client(token=ROOT)
    assert c.connect.ca.roots()["Roots"][0]["RootCert"] == before["Roots"][0]["RootCert"]
    assert c.connect.intentions.read("keep", "db")["Action"] == "allow"
    _clean(proc)
