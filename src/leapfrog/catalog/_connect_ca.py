"""Consul's built-in service-mesh CA: one root, short-lived leaf certificates per service.

As Consul's `consul` CA provider (agent/connect/ca): an ECDSA P-256 root whose URI SAN
is the cluster's trust domain (`spiffe://<cluster-id>.consul`), and leaf certificates
whose URI SAN is the service's SPIFFE ID
(`spiffe://<trust-domain>/ns/default/dc/<dc>/svc/<service>`), usable as TLS server and
client certificates (the service's name and `<service>.svc.default.<trust-domain>` are
DNS SANs, as Consul's). Everything is made with the `cryptography` library.

The root's key and certificate live in `connect-ca.json` in the catalog's data directory
(mode 0600, as the journal's files), so a restart keeps the roots every service trusts.
Leaf keys stay in memory, as in Consul's agent cache: a leaf is issued on first request,
answered from memory until its rotation point (a random point between 60% and 90% of its
lifetime, as Consul's leaf manager spreads renewals), then replaced by a fresh one with
a higher index, which wakes blocking queries on it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from leapfrog.catalog._acl_state import go_time
from leapfrog.catalog._index import IndexLog

__all__ = [
    "CA_FILE",
    "CA_TOPIC",
    "CertificateAuthority",
    "Leaf",
    "SpiffeService",
    "leaf_topic",
    "parse_spiffe",
    "service_uri",
]

CA_FILE = "connect-ca.json"
CA_TOPIC = "connect-ca"
ROOT_TTL = 10 * 365 * 24 * 3600.0
"""Consul's default RootCertTTL (87600h)."""
_BACKDATE = 60.0
"""Leaves are valid from a minute ago, as Consul's, so small clock skew does not hurt."""
_SPIFFE_SERVICE = re.compile(r"^/ns/([^/]+)/dc/([^/]+)/svc/([^/]+)$")
_SPIFFE_SERVICE_AP = re.compile(r"^/ap/([^/]+)/ns/([^/]+)/dc/([^/]+)/svc/([^/]+)$")


def leaf_topic(service: str) -> str:
    return "connect-leaf/" + service


def service_uri(
    trust_domain: str, datacenter: str, service: str, namespace: str = "default"
) -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/dc/{datacenter}/svc/{service}"


@dataclass(frozen=True)
class SpiffeService:
    """A parsed service SPIFFE ID."""

    trust_domain: str
    namespace: str
    datacenter: str
    service: str


def parse_spiffe(uri: str) -> SpiffeService | None:
    """The service identity of a certificate URI, None when it is not one (Consul's
    `connect.ParseCertURIFromString` for services)."""
    if not uri.startswith("spiffe://"):
        return None
    rest = uri[len("spiffe://") :]
    host, slash, path = rest.partition("/")
    if not host or not slash:
        return None
    path = "/" + path
    match = _SPIFFE_SERVICE.match(path)
    if match is not None:
        ns, dc, svc = match.groups()
        return SpiffeService(host.lower(), ns, dc, svc)
    match = _SPIFFE_SERVICE_AP.match(path)
    if match is not None:
        _ap, ns, dc, svc = match.groups()
        return SpiffeService(host.lower(), ns, dc, svc)
    return None


def _colon_hex(data: bytes) -> str:
    return ":".join(f"{b:02x}" for b in data)


def _serial_text(serial: int) -> str:
    length = max(1, (serial.bit_length() + 7) // 8)
    return _colon_hex(serial.to_bytes(length, "big"))


def _utc(moment: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(moment, dt.UTC)


@dataclass
class Leaf:
    """One issued leaf certificate and its key (never persisted)."""

    service: str
    uri: str
    cert_pem: str
    key_pem: str
    serial: str
    valid_after: float
    valid_before: float
    rotate_at: float
    index: int

    def to_dict(self) -> dict[str, Any]:
        """Consul's `structs.IssuedCert` as `/v1/agent/connect/ca/leaf` answers it."""
        return {
            "SerialNumber": self.serial,
            "CertPEM": self.cert_pem,
            "PrivateKeyPEM": self.key_pem,
            "Service": self.service,
            "ServiceURI": self.uri,
            "ValidAfter": go_time(self.valid_after),
            "ValidBefore": go_time(self.valid_before),
            "Namespace": "default",
            "Partition": "default",
            "CreateIndex": self.index,
            "ModifyIndex": self.index,
        }


class CertificateAuthority:
    """The root (loaded from, or made into, `data_dir/connect-ca.json`) and the leaves
    issued from it. `log` allocates indexes and wakes blocking queries."""

    def __init__(
        self,
        data_dir: Path,
        datacenter: str,
        log: IndexLog,
        leaf_ttl: float,
        *,
        clock: Callable[[], float] = time.time,
        schedule: Callable[[float, Callable[[], None]], object] | None = None,
    ) -> None:
        self.datacenter = datacenter
        self.leaf_ttl = leaf_ttl
        self._log = log
        self._clock = clock
        self._schedule = schedule
        self._leaves: dict[str, Leaf] = {}
        self.path = data_dir / CA_FILE
        if self.path.exists():
            self._load()
        else:
            self._create()
        self.trust_domain = f"{self.cluster_id}.consul"

    # -- the root -------------------------------------------------------------------------

    def _create(self) -> None:
        self.cluster_id = str(uuid.uuid4())
        key = ec.generate_private_key(ec.SECP256R1())
        now = self._clock()
        name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, f"pri-{uuid.uuid4().hex[:7]}.consul.ca")]
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_utc(now - _BACKDATE))
            .not_valid_after(_utc(now + ROOT_TTL))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.UniformResourceIdentifier(f"spiffe://{self.cluster_id}.consul")]
                ),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        self._key = key
        self._cert = cert
        self.root_index = self._log.next((CA_TOPIC,))
        self._save()

    def _save(self) -> None:
        data = {
            "ClusterID": self.cluster_id,
            "RootIndex": self.root_index,
            "RootCert": self._cert.public_bytes(serialization.Encoding.PEM).decode(),
            "PrivateKey": self._key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
        }
        partial = self.path.with_name(self.path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(partial, 0o600)
        os.replace(partial, self.path)

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            key = serialization.load_pem_private_key(data["PrivateKey"].encode(), None)
            cert = x509.load_pem_x509_certificate(data["RootCert"].encode())
            cluster_id = str(data["ClusterID"])
            root_index = int(data["RootIndex"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"the CA in {self.path} cannot be read: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"the CA key in {self.path} is not an ECDSA key")
        os.chmod(self.path, 0o600)
        self._key, self._cert = key, cert
        self.cluster_id, self.root_index = cluster_id, root_index

    @property
    def root_pem(self) -> str:
        return self._cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def root_id(self) -> str:
        """Consul's root ID: the colon-hex SHA-1 fingerprint of the root certificate."""
        return _colon_hex(self._cert.fingerprint(hashes.SHA1()))

    def roots(self) -> dict[str, Any]:
        """Consul's `structs.IndexedCARoots`."""
        cert = self._cert
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        root = {
            "ID": self.root_id,
            "Name": "Consul CA Primary Cert",
            "SerialNumber": cert.serial_number & (2**64 - 1),
            "SigningKeyID": _colon_hex(ski),
            "ExternalTrustDomain": self.cluster_id,
            "NotBefore": go_time(cert.not_valid_before_utc.timestamp()),
            "NotAfter": go_time(cert.not_valid_after_utc.timestamp()),
            "RootCert": self.root_pem,
            "IntermediateCerts": None,
            "Active": True,
            "PrivateKeyType": "ec",
            "PrivateKeyBits": 256,
            "CreateIndex": self.root_index,
            "ModifyIndex": self.root_index,
        }
        return {"ActiveRootID": self.root_id, "TrustDomain": self.trust_domain, "Roots": [root]}

    def configuration(self) -> dict[str, Any]:
        """Consul's `structs.CAConfiguration` of the built-in provider (no private key)."""
        return {
            "Provider": "consul",
            "Config": {
                "LeafCertTTL": _go_hours(self.leaf_ttl),
                "RootCertTTL": _go_hours(ROOT_TTL),
                "PrivateKeyType": "ec",
                "PrivateKeyBits": 256,
                "IntermediateCertTTL": _go_hours(ROOT_TTL),
            },
            "State": None,
            "ForceWithoutCrossSigning": False,
            "CreateIndex": self.root_index,
            "ModifyIndex": self.root_index,
        }

    # -- leaves ---------------------------------------------------------------------------

    def leaf(self, service: str) -> Leaf:
        """The service's current leaf: the one issued before while it is not due for
        rotation, else a new one."""
        current = self._leaves.get(service)
        if current is not None and self._clock() < current.rotate_at:
            return current
        return self._issue(service)

    def leaf_index(self, service: str) -> int:
        """The index of the service's current leaf (issuing one when due)."""
        return self.leaf(service).index

    def _issue(self, service: str) -> Leaf:
        now = self._clock()
        key = ec.generate_private_key(ec.SECP256R1())
        uri = service_uri(self.trust_domain, self.datacenter, service)
        serial = x509.random_serial_number()
        not_before, not_after = now - _BACKDATE, now + self.leaf_ttl
        ca_ski = self._cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, service)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(_utc(not_before))
            .not_valid_after(_utc(not_after))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.UniformResourceIdentifier(uri),
                        x509.DNSName(service),
                        x509.DNSName(f"{service}.svc.default.{self.trust_domain}"),
                    ]
                ),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        lifetime = not_after - now
        rotate_at = now + lifetime * random.uniform(0.6, 0.9)
        index = self._log.next((leaf_topic(service),))
        leaf = Leaf(
            service=service,
            uri=uri,
            cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            serial=_serial_text(serial),
            valid_after=not_before,
            valid_before=not_after,
            rotate_at=rotate_at,
            index=index,
        )
        self._leaves[service] = leaf
        if self._schedule is not None:
            # Wake blocking queries on this leaf when it is due, so they get the next one.
            topic = leaf_topic(service)
            self._schedule(rotate_at - now + 0.05, lambda: self._log.hub.notify((topic,)))
        return leaf


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """A root signs certificates; a leaf signs and agrees TLS keys (Consul's usages)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=not ca,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _go_hours(seconds: float) -> str:
    """A Go duration as Consul writes TTLs in its CA configuration (`72h0m0s`)."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s"
