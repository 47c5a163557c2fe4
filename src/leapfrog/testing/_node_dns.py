"""Cluster DNS of a real test node: CoreDNS (built from Go modules by scripts/coredns.sh,
with the `kubernetes` plugin reading the test apiserver) runs in the pods' network
namespace, listening on every address there, and is published as the `kube-dns` Service of
kube-system at a fixed ClusterIP, whose EndpointSlice names the pods' gateway address (the
bridge's, in that same namespace). The kubelet gives pods that address as their
nameserver, so a pod resolves `<service>.<namespace>.svc.cluster.local` and short names
through kube-proxy's rules, as on a real cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from leapfrog.shared.cache import cache_dir

__all__ = [
    "CLUSTER_DOMAIN",
    "COREDNS_USER",
    "COREDNS_VERSION",
    "DNS_READY_PORT",
    "DNS_SERVICE_IP",
    "coredns_binary",
    "corefile",
    "dns_objects",
]

# The release tools/coredns/go.mod requires (scripts/coredns.sh builds that one).
COREDNS_VERSION = "v1.15.0"
CLUSTER_DOMAIN = "cluster.local"
# In the low band of the apiserver's --service-cluster-ip-range (10.96.0.0/16), which
# dynamic allocation leaves to fixed addresses: the address kubeadm gives kube-dns.
DNS_SERVICE_IP = "10.96.0.10"
# CoreDNS's `ready` plugin, on the loopback of the pods' network namespace.
DNS_READY_PORT = 8181
# The apiserver user CoreDNS reads Services and EndpointSlices as (a static token).
COREDNS_USER = "system:coredns"
_NAMESPACE = "kube-system"
_SERVICE = "kube-dns"


def coredns_binary() -> Path:
    """Where scripts/coredns.sh leaves CoreDNS."""
    return cache_dir() / "coredns" / COREDNS_VERSION / "bin" / "coredns"


def corefile(kubeconfig: Path, context: str) -> str:
    """One server for every zone on port 53: the kubernetes plugin answers cluster.local
    and reverse lookups of Service and pod addresses; names outside the cluster get no
    answer (the pods' network namespace has no way out to forward them)."""
    return f"""\
.:53 {{
    errors
    log . "{{remote}} {{type}} {{name}} {{rcode}}"
    ready 127.0.0.1:{DNS_READY_PORT}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} {context}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
    loadbalance
}}
"""


def dns_objects(address: str) -> str:
    """What publishes CoreDNS at `address` (the pods' gateway): the RBAC CoreDNS's own
    manifests grant it, and the kube-dns Service with a hand-made EndpointSlice (CoreDNS is
    not a pod here, so no selector)."""
    labels = {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}
    ports = [("dns", "UDP"), ("dns-tcp", "TCP")]
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:coredns",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": COREDNS_USER}
            ],
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": _SERVICE, "namespace": _NAMESPACE, "labels": labels},
            "spec": {
                "clusterIP": DNS_SERVICE_IP,
                "ports": [
                    {"name": name, "protocol": protocol, "port": 53, "targetPort": 53}
                    for name, protocol in ports
                ],
            },
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{_SERVICE}-real-node",
                "namespace": _NAMESPACE,
                "labels": {
                    "kubernetes.io/service-name": _SERVICE,
                    "endpointslice.kubernetes.io/managed-by": "leapfrog.dev-real-node",
                },
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
            "ports": [{"name": name, "protocol": protocol, "port": 53} for name, protocol in ports],
        },
    ]
    return yaml.safe_dump_all(objects, sort_keys=False)
