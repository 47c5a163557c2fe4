"""The files a test control plane starts from: a CA and serving certificate made with the
openssl command, a service-account key, static tokens, kubeconfigs, the admission policy,
and the objects every cluster gets (fake nodes and a default StorageClass)."""

from __future__ import annotations

import base64
import secrets
import subprocess
from collections.abc import Sequence
from pathlib import Path

import yaml

from leapfrog.shared.errors import LeapfrogError

__all__ = [
    "CONTEXT",
    "KWOK_ANNOTATION",
    "ClusterFiles",
    "admission_config",
    "cluster_objects",
    "make_cluster_files",
    "write_kubeconfig",
]

CONTEXT = "leapfrog-test"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
# The apiserver's serving certificate names every address a client here may dial.
_SERVER_NAMES = "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc"


class ClusterFiles:
    """Paths and tokens of one control plane's credentials, all under `pki`."""

    def __init__(self, pki: Path) -> None:
        self.pki = pki
        self.ca = pki / "ca.crt"
        self.ca_key = pki / "ca.key"
        self.server_cert = pki / "apiserver.crt"
        self.server_key = pki / "apiserver.key"
        self.sa_key = pki / "sa.key"
        self.sa_pub = pki / "sa.pub"
        self.tokens_csv = pki / "tokens.csv"
        # user name -> bearer token; system:masters for the admin and for KWOK, which
        # writes node and pod status as kubelets would.
        self.tokens: dict[str, str] = {}


def _openssl(*args: str) -> None:
    try:
        subprocess.run(["openssl", *args], check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise LeapfrogError("the openssl command is needed: apt-get install openssl") from exc
    except subprocess.CalledProcessError as exc:
        raise LeapfrogError(f"openssl {args[0]} failed: {exc.stderr.strip()}") from exc


def make_cluster_files(pki: Path, kubelets: Sequence[str] = ()) -> ClusterFiles:
    """A fresh CA, apiserver certificate, service-account key pair and tokens in `pki`; a
    token in group system:nodes (user system:node:NAME) for each of `kubelets`."""
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    files = ClusterFiles(pki)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-days", "30", "-subj", "/CN=leapfrog-test-ca",
             "-keyout", str(files.ca_key), "-out", str(files.ca))  # fmt: skip
    csr = pki / "apiserver.csr"
    _openssl("req", "-new", *ec, "-subj", "/CN=kube-apiserver",
             "-keyout", str(files.server_key), "-out", str(csr))  # fmt: skip
    extensions = pki / "apiserver.ext"
    extensions.write_text(
        f"subjectAltName={_SERVER_NAMES}\nextendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(files.ca), "-CAkey", str(files.ca_key),
             "-CAcreateserial", "-days", "30", "-extfile", str(extensions),
             "-out", str(files.server_cert))  # fmt: skip
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(files.sa_key))
    _openssl("ec", "-in", str(files.sa_key), "-pubout", "-out", str(files.sa_pub))
    users = {
        "admin": "system:masters",
        "kwok": "system:masters",
        "system:kube-controller-manager": "",
        "system:kube-scheduler": "",
        **{f"system:node:{name}": "system:nodes" for name in kubelets},
        # Bound to ClusterRole system:node-proxier by Kubernetes' default bindings.
        **({"system:kube-proxy": ""} if kubelets else {}),
        # The real node's cluster DNS (RealNode binds it to ClusterRole system:coredns).
        **({"system:coredns": ""} if kubelets else {}),
    }
    lines = []
    for user, group in users.items():
        token = secrets.token_hex(24)
        files.tokens[user] = token
        lines.append(f'{token},{user},{user},"{group}"')
    files.tokens_csv.write_text("\n".join(lines) + "\n")
    files.tokens_csv.chmod(0o600)
    return files


def write_kubeconfig(path: Path, server: str, ca: Path, user: str, token: str) -> Path:
    """A kubeconfig with one context named `leapfrog-test`, the CA embedded."""
    ca_data = base64.b64encode(ca.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": ca_data}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user}}],
        "current-context": CONTEXT,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def admission_config() -> str:
    """Pod Security "restricted" enforced in every namespace but kube-system, so every pod a
    test creates is held to the profile even where its namespace carries no label."""
    levels = {
        f"{mode}{suffix}": value
        for mode in ("enforce", "audit", "warn")
        for suffix, value in (("", "restricted"), ("-version", "latest"))
    }
    policy = {
        "apiVersion": "pod-security.admission.config.k8s.io/v1",
        "kind": "PodSecurityConfiguration",
        "defaults": levels,
        "exemptions": {"usernames": [], "runtimeClasses": [], "namespaces": ["kube-system"]},
    }
    config = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AdmissionConfiguration",
        "plugins": [{"name": "PodSecurity", "configuration": policy}],
    }
    return yaml.safe_dump(config, sort_keys=False)


def _node(name: str, zone: str, version: str) -> dict[str, object]:
    capacity = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "500Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "topology.kubernetes.io/zone": zone,
                "type": "kwok",
            },
        },
        # A node's status may be set on create: KWOK keeps it, as a kubelet would report it.
        "status": {
            "allocatable": capacity,
            "capacity": capacity,
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": f"{version}-kwok",
                "containerRuntimeVersion": "kwok",
            },
            "phase": "Running",
        },
    }


def cluster_objects(nodes: int, version: str) -> str:
    """Fake nodes in distinct zones for KWOK, and the default StorageClass, whose claims the
    controller-manager's hostPath provisioner binds (KWOK pods never mount them)."""
    zones = "abc"
    objects: list[dict[str, object]] = [
        _node(f"kwok-node-{i}", f"zone-{zones[i % len(zones)]}", version) for i in range(nodes)
    ]
    objects.append(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": "standard",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/host-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
    )
    return yaml.safe_dump_all(objects, sort_keys=False)
