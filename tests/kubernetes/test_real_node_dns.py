"""Cluster DNS on the real node: CoreDNS (built from Go modules, its `kubernetes` plugin
reading the test apiserver) behind the kube-dns Service, so a pod resolves
`<service>.<namespace>.svc.cluster.local`, the short name through its search list, a
headless Service to its pods, and connects to another pod through the Service's name;
names that do not exist stay unresolved.

After test_real_node.py (its first test needs the machine's only node to itself)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from leapfrog.testing import ControlPlane, RealNode
from leapfrog.testing._node_dns import CLUSTER_DOMAIN, DNS_SERVICE_IP
from tests.kubernetes.conftest import SERVE, apply, get, pod, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def service(name: str, selector: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": selector},
            "ports": [{"port": 80, "targetPort": 8080}],
            **spec,
        },
    }


def in_pod(plane: ControlPlane, namespace: str, script: str, tries: int = 40) -> str:
    """Run `script` in the caller pod until it succeeds (CoreDNS learns of a new Service,
    kube-proxy writes its rules, a moment after the apiserver has it); its output."""
    command = ("exec", "-n", namespace, "caller", "--", "sh", "-c", script)
    done = None
    for _ in range(tries):
        done = plane.kubectl(*command, check=False)
        if done.returncode == 0:
            return done.stdout.strip()
        time.sleep(0.25)
    assert done is not None
    raise AssertionError(f"{script!r} kept failing: {done.stdout.strip()} {done.stderr.strip()}")


def test_pods_reach_services_by_name(real_node: RealNode, namespace: str) -> None:
    plane = real_node.plane
    backend = pod(
        "backend",
        {"name": "main", "command": ["sh", "-c", SERVE], "ports": [{"containerPort": 8080}]},
    )
    caller = pod("caller", {"name": "main", "command": ["sleep", "3600"]})
    web = service("web", "backend")
    peers = service("peers", "backend", clusterIP="None")
    memory = real_node.memory()
    print(
        f"node Ready {real_node.ready_in:.1f} s, CoreDNS ready {real_node.dns_ready_in:.1f} s "
        f"after start(); CoreDNS RSS {memory['coredns'] / 2**20:.0f} MiB"
    )
    apply(plane, namespace, web, peers, backend, caller)
    wait_ready(plane, namespace, "backend", "caller")
    cluster_ip = get(plane, "service", "-n", namespace, "web")["spec"]["clusterIP"]
    backend_ip = get(plane, "pod", "-n", namespace, "backend")["status"]["podIP"]

    # The kubelet points the pod at the kube-dns Service, with the cluster's search list.
    resolv = in_pod(plane, namespace, "cat /etc/resolv.conf").splitlines()
    assert f"nameserver {DNS_SERVICE_IP}" in resolv
    search = f"search {namespace}.svc.{CLUSTER_DOMAIN} svc.{CLUSTER_DOMAIN} {CLUSTER_DOMAIN}"
    assert search in resolv

    fqdn = f"web.{namespace}.svc.{CLUSTER_DOMAIN}"
    answer = in_pod(plane, namespace, f"nslookup -type=a {fqdn}")
    assert f"Server:\t\t{DNS_SERVICE_IP}" in answer, answer
    assert f"Address: {cluster_ip}" in answer, answer
    # The apiserver's own Service, in another namespace.
    answer = in_pod(plane, namespace, f"nslookup -type=a kubernetes.default.svc.{CLUSTER_DOMAIN}")
    assert "Address: 10.96.0.1" in answer, answer
    # A headless Service resolves to its pods.
    answer = in_pod(plane, namespace, f"nslookup -type=a peers.{namespace}.svc.{CLUSTER_DOMAIN}")
    assert f"Address: {backend_ip}" in answer, answer

    # The short name and the namespaced one, through the search list, by the C library's
    # resolver (wget), to the backend pod through kube-proxy.
    for name in ("web", f"web.{namespace}", fqdn):
        assert in_pod(plane, namespace, f"wget -q -O - http://{name}/ping") == "pong-backend"

    # A name nothing answers to stays unresolved, in the cluster domain and as a short name.
    missing = f"nobody.{namespace}.svc.{CLUSTER_DOMAIN}"
    done = plane.kubectl(
        "exec", "-n", namespace, "caller", "--", "nslookup", "-type=a", missing, check=False
    )
    assert done.returncode != 0 and "NXDOMAIN" in done.stdout, done.stdout
    done = plane.kubectl(
        "exec", "-n", namespace, "caller", "--", "wget", "-q", "-O", "-", "http://nobody/ping",
        check=False,
    )  # fmt: skip
    assert done.returncode != 0 and "bad address" in done.stderr, done.stderr
