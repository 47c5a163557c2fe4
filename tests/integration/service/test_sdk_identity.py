"""Service identity with real processes: SDK services (LEAPFROG_IDENTITY=on) serve mTLS
with the catalog's leaf certificates and call each other with ServiceClient; a caller no
intention allows gets 403 naming the rule, an allowed one gets through with its name
handed to the handler, an intention change takes effect without restarts, a request
without a certificate or with one from another CA is refused, and certificates rotate
under load without a failed request."""

from __future__ import annotations

import datetime as dt
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from leapfrog.testing import CatalogProcess, wait_until
from tests.integration.service.conftest import MeshService, mesh_catalog_process, mtls_client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def mesh_catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogProcess]:
    with mesh_catalog_process(tmp_path_factory.mktemp("identity-catalog")) as proc:
        yield proc


@pytest.fixture(scope="module")
def mesh(
    mesh_catalog: CatalogProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, MeshService]]:
    logs = tmp_path_factory.mktemp("mesh-logs")
    services = {
        name: MeshService(mesh_catalog, name, logs).start() for name in ("db", "web", "other")
    }
    try:
        for service in services.values():
            wait_until(service.ready, timeout=30, what=f"{service.name} serving TLS")

        def registered() -> bool:
            entries = httpx.get(
                f"http://{mesh_catalog.http_addr}/v1/health/service/db?passing=1"
            ).json()
            return len(entries) == 1

        wait_until(registered, timeout=15, what="db passing its https check")
        yield services
    finally:
        for service in services.values():
            service.stop()


def _intention(catalog: CatalogProcess, source: str, action: str | None) -> None:
    url = f"http://{catalog.http_addr}/v1/connect/intentions/exact"
    params = {"source": source, "destination": "db"}
    if action is None:
        httpx.delete(url, params=params).raise_for_status()
    else:
        httpx.put(url, params=params, json={"Action": action}).raise_for_status()


def test_callers_are_checked_against_the_intentions(
    mesh_catalog: CatalogProcess, mesh: dict[str, MeshService], tmp_path: Path
) -> None:
    db, web, other = mesh["db"], mesh["web"], mesh["other"]
    # web's and other's /call would refuse the test itself (no certificate): let any
    # caller into them, so the test drives the calls they make to db.
    for name in ("web", "other"):
        httpx.put(
            f"http://{mesh_catalog.http_addr}/v1/connect/intentions/exact",
            params={"source": "*", "destination": name},
            json={"Action": "allow"},
        ).raise_for_status()
    client = _client_with_leaf(mesh_catalog, "tester", tmp_path)

    def call(via: MeshService) -> dict[str, Any]:
        return client.get(f"{via.url}/call/db").json()  # type: ignore[no-any-return]

    denied = call(web)
    assert denied == {
        "status": 403,
        "body": "caller 'web' is not allowed: Default intention policy",
    }
    started = time.monotonic()
    _intention(mesh_catalog, "web", "allow")
    wait_until(lambda: call(web)["status"] == 200, timeout=5, what="web allowed")
    assert time.monotonic() - started < 1.0
    assert call(web) == {"status": 200, "body": "db called by web"}
    assert call(other)["status"] == 403
    started = time.monotonic()
    _intention(mesh_catalog, "web", "deny")
    wait_until(lambda: call(web)["status"] == 403, timeout=5, what="web denied again")
    assert time.monotonic() - started < 1.0
    reason = "Matched L4 intention: web => db (deny)"
    assert call(web)["body"] == f"caller 'web' is not allowed: {reason}"
    _intention(mesh_catalog, "web", None)

    # No certificate: only /health and /metrics answer.
    bare = httpx.get(db.url + "/", verify=False)
    assert bare.status_code == 403 and "client certificate is required" in bare.text
    assert httpx.get(db.url + "/health/ready", verify=False).status_code == 200
    # A certificate from another CA does not get past the handshake.
    foreign = _foreign_client(tmp_path)
    with pytest.raises(httpx.HTTPError):
        foreign.get(db.url + "/")
    client.close()
    foreign.close()


def test_certificates_rotate_without_a_failed_request(
    mesh_catalog: CatalogProcess, mesh: dict[str, MeshService], tmp_path: Path
) -> None:
    db, web = mesh["db"], mesh["web"]
    for source, destination in (("*", "web"), ("web", "db")):
        httpx.put(
            f"http://{mesh_catalog.http_addr}/v1/connect/intentions/exact",
            params={"source": source, "destination": destination},
            json={"Action": "allow"},
        ).raise_for_status()
    client = _client_with_leaf(mesh_catalog, "tester", tmp_path)
    first = _served_serial(db)
    failures, count = [], 0
    deadline = time.monotonic() + 11  # past the 6-9 s rotation point of a 10 s leaf
    while time.monotonic() < deadline:
        answer = client.get(f"{web.url}/call/db").json()
        count += 1
        if answer != {"status": 200, "body": "db called by web"}:
            failures.append(answer)
        time.sleep(0.02)
    assert failures == [] and count > 50
    assert _served_serial(db) != first  # db serves a new certificate now
    client.close()


def _served_serial(service: MeshService) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    pem = ssl.get_server_certificate(("127.0.0.1", service.port))
    return x509.load_pem_x509_certificate(pem.encode()).serial_number


def _client_with_leaf(catalog: CatalogProcess, name: str, tmp_path: Path) -> httpx.Client:
    base = f"http://{catalog.http_addr}"
    leaf = httpx.get(f"{base}/v1/agent/connect/ca/leaf/{name}").json()
    roots = httpx.get(f"{base}/v1/connect/ca/roots", params={"pem": "true"}).text
    return mtls_client(leaf, roots, tmp_path)


def _foreign_client(tmp_path: Path) -> httpx.Client:
    """A client whose certificate names web in another trust domain, from another CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web")])
    uri = "spiffe://7f0c1c9e-0000-4000-8000-000000000000.consul/ns/default/dc/dc1/svc/web"
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "foreign.pem", tmp_path / "foreign.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(cert_path, key_path)
    return httpx.Client(verify=context, timeout=10)
