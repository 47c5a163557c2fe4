"""The test control plane itself: real apiserver, controllers and scheduler, KWOK nodes.

Workloads here are plain manifests, not leapfrog's rendering, to prove the harness that the
rendering tests stand on: rollouts reach Ready, claims bind, policy objects are accepted, and
Pod Security "restricted" is really enforced."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from leapfrog.shared.errors import LeapfrogError
from leapfrog.testing import ControlPlane

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

GO_MOD = Path(__file__).resolve().parents[2] / "tools" / "kube" / "go.mod"
LABELS = {"app.kubernetes.io/name": "smoke"}
RESTRICTED_POD: dict[str, Any] = {
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "containers": [
        {
            "name": "app",
            "image": "registry.example/smoke:1",
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "readOnlyRootFilesystem": True,
            },
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
        }
    ],
}


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    control_plane.kubectl("create", "namespace", name)
    # Pods are admitted only once the namespace has its default ServiceAccount.
    control_plane.kubectl(
        "wait", "-n", name, "serviceaccount/default", "--for=create", "--timeout=30s"
    )
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false")


def get(plane: ControlPlane, *args: str) -> Any:
    return json.loads(plane.kubectl("get", *args, "-o", "json").stdout)


def apply(plane: ControlPlane, namespace: str, *objects: dict[str, Any]) -> str:
    return plane.kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(objects)
    ).stdout


def template() -> dict[str, Any]:
    return {"metadata": {"labels": LABELS}, "spec": RESTRICTED_POD}


def test_versions_match_the_wrapper_module(control_plane: ControlPlane) -> None:
    pinned = re.search(r"k8s\.io/kubernetes (v[\d.]+)", GO_MOD.read_text())
    assert pinned and pinned.group(1) == control_plane.version
    versions = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert versions["serverVersion"]["gitVersion"] == control_plane.version
    assert versions["clientVersion"]["gitVersion"] == control_plane.version


def test_fake_nodes_are_ready_and_keep_their_leases(control_plane: ControlPlane) -> None:
    # A real node (test_real_node.py) may have joined the same control plane.
    nodes = [
        node
        for node in get(control_plane, "nodes")["items"]
        if node["metadata"].get("annotations", {}).get("kwok.x-k8s.io/node") == "fake"
    ]
    assert len(nodes) == control_plane.nodes
    for node in nodes:
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", node["metadata"]["name"]
    leases = get(control_plane, "leases", "-n", "kube-node-lease")["items"]
    assert {lease["metadata"]["name"] for lease in leases} >= {n["metadata"]["name"] for n in nodes}


def test_deployment_rolls_out_and_rolls_again(control_plane: ControlPlane, namespace: str) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": LABELS},
            "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": template(),
        },
    }
    apply(control_plane, namespace, deployment)
    rollout = ("rollout", "status", "-n", namespace, "deployment/web", "--timeout=90s")
    control_plane.kubectl(*rollout)
    control_plane.kubectl(
        "set", "image", "-n", namespace, "deployment/web", "app=registry.example/smoke:2"
    )
    control_plane.kubectl(*rollout)
    status = get(control_plane, "deployment", "-n", namespace, "web")["status"]
    assert status["readyReplicas"] == status["updatedReplicas"] == 3
    pods = get(control_plane, "pods", "-n", namespace)["items"]
    running = [p for p in pods if p["status"]["phase"] == "Running"]
    assert {p["spec"]["containers"][0]["image"] for p in running} == {"registry.example/smoke:2"}
    assert all(p["spec"]["nodeName"].startswith("kwok-node-") for p in running)


def test_statefulset_claims_bind_and_pods_become_ready(
    control_plane: ControlPlane, namespace: str
) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "db"},
        "spec": {"clusterIP": "None", "selector": LABELS, "ports": [{"port": 5432}]},
    }
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "serviceName": "db",
            "replicas": 2,
            "selector": {"matchLabels": LABELS},
            "template": template(),
            "volumeClaimTemplates": [claim],
        },
    }
    apply(control_plane, namespace, service, statefulset)
    control_plane.kubectl("rollout", "status", "-n", namespace, "statefulset/db", "--timeout=90s")
    claims = get(control_plane, "pvc", "-n", namespace)["items"]
    assert sorted(c["metadata"]["name"] for c in claims) == ["data-db-0", "data-db-1"]
    assert {c["status"]["phase"] for c in claims} == {"Bound"}
    assert {c["spec"]["storageClassName"] for c in claims} == {"standard"}


def test_policy_objects_are_accepted(control_plane: ControlPlane, namespace: str) -> None:
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": LABELS}},
    }
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    allow = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "web-from-lb"},
        "spec": {
            "podSelector": {"matchLabels": LABELS},
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "lb"}}}],
                    "ports": [{"port": 8080, "protocol": "TCP"}],
                }
            ],
        },
    }
    out = apply(control_plane, namespace, budget, deny, allow)
    assert "poddisruptionbudget.policy/web created" in out
    names = {i["metadata"]["name"] for i in get(control_plane, "netpol", "-n", namespace)["items"]}
    assert names == {"default-deny", "web-from-lb"}
    control_plane.kubectl(
        "wait", "-n", namespace, "pdb/web", "--for=jsonpath={.status.observedGeneration}=1"
    )


def test_pod_security_restricted_is_enforced(control_plane: ControlPlane, namespace: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "rooty"},
        "spec": {"containers": [{"name": "app", "image": "registry.example/smoke:1"}]},
    }
    done = control_plane.kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(pod), check=False
    )
    assert done.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in done.stderr
    compliant = {**pod, "metadata": {"name": "fine"}, "spec": RESTRICTED_POD}
    apply(control_plane, namespace, compliant)
    control_plane.kubectl(
        "wait", "-n", namespace, "pod/fine", "--for=condition=Ready", "--timeout=60s"
    )


def test_missing_tools_name_the_script_that_builds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAPFROG_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(LeapfrogError, match=r"missing .*kube-apiserver.*scripts/kube-tools\.sh"):
        ControlPlane(tmp_path / "work").start()
    assert not (tmp_path / "work").exists()
