"""What a component's `render_kubernetes` step receives and returns, and the pieces every
rendered pod shares (labels, the restricted Pod Security profile, volumes).

Manifests are plain dicts in the Kubernetes API's own shape: they are written as YAML,
validated against the API's schemas and sent with server-side apply as they are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "MANAGED_BY",
    "KubeContext",
    "KubeRender",
    "KubeSecret",
    "Manifest",
    "catalog_token_wait",
    "config_map",
    "container_security",
    "content_hash",
    "deployment",
    "empty_dirs",
    "heap_plus",
    "job",
    "pod_security",
    "resources",
    "restricted_pod",
    "script_job",
    "secret_env",
    "service",
    "stack_ingress",
    "stateful_set",
]

Manifest = dict[str, Any]
MANAGED_BY = "leapfrog"

DEFAULT_IMAGES: dict[str, str] = {
    "consul": "hashicorp/consul:1.21",
    "kafka": "apache/kafka:{version}",
    "zookeeper": "zookeeper:{version}",
    "postgres": "postgres:{version}",
    "haproxy": "haproxy:3.2",
    "node": "node:22-slim",
    "opensearch": "opensearchproject/opensearch:{version}",
    "influxdb": "influxdb:{version}",
    "fluent-bit": "fluent/fluent-bit:3.2",
    "grafana": "grafana/grafana:{version}",
    "opensearch-dashboards": "opensearchproject/opensearch-dashboards:{version}",
    "flink": "flink:{version}-java17",
    "python": "python:3.12-alpine",
}
"""Official images of the platform parts; `{version}` is the component's version option."""


@dataclass(frozen=True)
class KubeSecret:
    """A Secret whose values are generated: by `apply` when absent (never overwritten), or
    into the rendered files when the stack asks for `write_secrets`."""

    name: str
    component: str
    generated: Mapping[str, Literal["password", "uuid"]]
    """Keys holding a fresh random value."""
    derived: Mapping[str, str] = field(default_factory=dict)
    """Keys computed from the generated ones: `{key}` is replaced by that key's value."""


@dataclass(frozen=True)
class KubeRender:
    """A component's part of the rendered stack."""

    objects: list[Manifest]
    env: list[dict[str, Any]]
    """Container env entries (value or valueFrom) that services using it receive."""
    secrets: list[KubeSecret] = field(default_factory=list)
    ports: Mapping[str, int] = field(default_factory=dict)
    """Ports services may reach (for their NetworkPolicy), by name."""
    store_ports: Mapping[str, int] = field(default_factory=dict)
    """Ports the backup operator's Jobs reach besides `ports`, by name (`rpc`: the
    option `rpc_port`), which services may not: InfluxDB's RPC (`influxd backup` and
    `restore`, no authentication), ZooKeeper's AdminServer (is the server running)."""


@dataclass(frozen=True)
class KubeContext:
    """Where and how the stack is rendered: namespace, images, storage."""

    namespace: str
    stack: str
    images: Mapping[str, str] = field(default_factory=dict)
    storage_class: str | None = None
    storage: Mapping[str, str] = field(default_factory=dict)
    leapfrog_version: str = "0.1.0"
    leapfrog_image: str | None = None
    """leapfrog's own image as `leapfrog image build` names it (the runtime passes it)."""
    catalog_env: tuple[dict[str, Any], ...] = ()
    """How a platform part that reads the catalog (the load balancer) reaches it."""
    platform_env: tuple[dict[str, Any], ...] = ()
    """For a part that reads the others (`uses_catalog`: the pipelines), the env the
    components rendered before it give services (KAFKA_BOOTSTRAP_SERVERS, ...)."""
    stack_dir: Path | None = None
    """The stack file's directory: what a relative path in the options is relative to."""
    identity: bool = False
    """The stack turns service identity on: a part that reads the catalog and calls
    services (the load balancer) presents its own certificate from the catalog's CA."""

    def image(self, part: str, version: str | None = None) -> str:
        chosen = self.images.get(part)
        if chosen:
            return chosen
        if part == "leapfrog":
            return self.leapfrog_image or f"localhost/leapfrog/leapfrog:{self.leapfrog_version}"
        return DEFAULT_IMAGES[part].format(version=version or "latest")

    def labels(self, name: str, component: str, version: str | None = None) -> dict[str, str]:
        """The app.kubernetes.io labels every object carries; prune selects by the last two."""
        labels = {
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/instance": f"{self.stack}-{name}",
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": self.stack,
            "app.kubernetes.io/managed-by": MANAGED_BY,
        }
        if version:
            labels["app.kubernetes.io/version"] = _label_value(version)
        return labels

    def selector(self, name: str) -> dict[str, str]:
        """Stable labels only: a Deployment's selector can never change."""
        return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": self.stack}

    def meta(
        self, name: str, component: str, version: str | None = None, app: str | None = None
    ) -> dict[str, Any]:
        """Object metadata; `app` is the part it belongs to when the name differs."""
        return {
            "name": name,
            "namespace": self.namespace,
            "labels": self.labels(app or name, component, version),
        }

    def volume_claim(self, part: str, default: str) -> Manifest:
        spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": self.storage.get(part, default)}},
        }
        if self.storage_class:
            spec["storageClassName"] = self.storage_class
        return {"metadata": {"name": "data"}, "spec": spec}


def _label_value(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:63]
    return cleaned.strip("-_.") or "unknown"


def pod_security(uid: int, gid: int | None = None) -> dict[str, Any]:
    """The pod half of Pod Security "restricted"; fsGroup makes volumes writable for it."""
    group = uid if gid is None else gid
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": group,
        "fsGroup": group,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_pod(
    uid: int, containers: list[dict[str, Any]], volumes: list[dict[str, Any]], grace: int = 30
) -> dict[str, Any]:
    """A pod spec of `containers` run as `uid`, with no service account token."""
    pod: dict[str, Any] = {
        "securityContext": pod_security(uid),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": grace,
        "containers": containers,
    }
    if volumes:
        pod["volumes"] = volumes
    return pod


def container_security(read_only_root: bool = True) -> dict[str, Any]:
    """The container half of Pod Security "restricted"."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resources(
    cpu: str, memory: str, cpu_limit: str | None = None, memory_limit: str | None = None
) -> dict[str, Any]:
    limits = {"memory": memory_limit or memory}
    if cpu_limit:
        limits["cpu"] = cpu_limit
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": limits}


def heap_plus(heap: str, extra_mib: int) -> str:
    """A JVM's memory: its heap (`512m`, `1g`) and what it uses beside it, in MiB."""
    number, unit = int(heap[:-1]), heap[-1].lower()
    mebibytes = number * 1024 if unit == "g" else number
    return f"{mebibytes + extra_mib}Mi"


def empty_dirs(*paths: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Writable scratch folders under a read-only root: (volumes, volumeMounts)."""
    names = [f"scratch-{i}" for i in range(len(paths))]
    volumes = [{"name": n, "emptyDir": {}} for n in names]
    mounts = [{"name": n, "mountPath": p} for n, p in zip(names, paths, strict=True)]
    return volumes, mounts


def secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def content_hash(*parts: Any) -> str:
    """Eight hex digits naming a version of immutable content (a Job's pod template)."""
    data = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(data).hexdigest()[:8]


def service(
    kube: KubeContext,
    name: str,
    app: str,
    component: str,
    ports: Mapping[str, int | tuple[int, int, str]],
    *,
    headless: bool = False,
) -> Manifest:
    """A Service to the pods of `app`; a port is `port` or (port, targetPort, protocol)."""
    entries = []
    for port_name, value in ports.items():
        port, target, protocol = value if isinstance(value, tuple) else (value, value, "TCP")
        entries.append(
            {"name": port_name, "port": port, "targetPort": target, "protocol": protocol}
        )
    spec: dict[str, Any] = {"selector": kube.selector(app), "ports": entries}
    if headless:
        # Pods are addressed by name (kafka-0.kafka) before they are ready: the broker
        # must resolve its own advertised name while it starts.
        spec.update(clusterIP="None", publishNotReadyAddresses=True)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": kube.meta(name, component, app=app),
        "spec": spec,
    }


def stateful_set(
    kube: KubeContext,
    name: str,
    component: str,
    version: str | None,
    *,
    pod: dict[str, Any],
    storage: tuple[str, str] | None,
    service_name: str | None = None,
) -> Manifest:
    """One replica of a stateful part with its own volume claim (`storage`: part, size)."""
    labels = kube.labels(name, component, version)
    spec: dict[str, Any] = {
        "serviceName": service_name or name,
        "replicas": 1,
        "selector": {"matchLabels": kube.selector(name)},
        "podManagementPolicy": "Parallel",
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    if storage is not None:
        spec["volumeClaimTemplates"] = [kube.volume_claim(*storage)]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": kube.meta(name, component, version),
        "spec": spec,
    }


def config_map(kube: KubeContext, name: str, app: str, data: Mapping[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": kube.meta(name, "config", app=app),
        "data": dict(data),
    }


def job(kube: KubeContext, name: str, pod: dict[str, Any]) -> Manifest:
    """A run-once Job; its name carries a hash of its pod, since a Job's pod is immutable:
    a changed stack file makes a new Job (and prune removes the old one)."""
    full = f"{name}-{content_hash(pod)}"
    # Its own name label: the part's Service and StatefulSet must not select these pods.
    labels = kube.labels(name, "init")
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": kube.meta(full, "init", app=name),
        "spec": {
            "backoffLimit": 20,
            "template": {
                "metadata": {"labels": labels},
                "spec": {"restartPolicy": "OnFailure", **pod},
            },
        },
    }


def script_job(kube: KubeContext, name: str, image: str, script: str, uid: int) -> Manifest:
    """A Job running `script` (sh) once in one small restricted container of `image`."""
    container = {
        "name": "run",
        "image": image,
        "command": ["sh", "-c", script],
        "securityContext": container_security(),
        "resources": resources("50m", "64Mi"),
    }
    return job(kube, name, restricted_pod(uid, [container], []))


def stack_ingress(kube: KubeContext, app: str, port: int) -> Manifest:
    """A NetworkPolicy letting the stack's own pods reach `app` on `port` (the namespace
    denies every other ingress), for a part that renders its own web UI."""
    stack_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": kube.stack}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": kube.meta(f"{app}-ingress", "network", app=app),
        "spec": {
            "podSelector": {"matchLabels": kube.selector(app)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [stack_pods], "ports": [{"protocol": "TCP", "port": port}]}],
        },
    }


def deployment(
    kube: KubeContext,
    name: str,
    component: str,
    version: str,
    pod: dict[str, Any],
    *,
    config: str | None = None,
) -> Manifest:
    """One replica of `pod`; `config` (a content hash of what the pod mounts from
    ConfigMaps) in its template, so a changed config rolls the pod."""
    template: dict[str, Any] = {"labels": kube.labels(name, component, version)}
    if config:
        template["annotations"] = {"leapfrog/config": config}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": kube.meta(name, component, version),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": kube.selector(name)},
            "template": {"metadata": template, "spec": pod},
        },
    }


_CATALOG_ENV = ("CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN")
_LEAPFROG_UID = 10001  # the user of leapfrog's image


def catalog_token_wait(kube: KubeContext, env: list[dict[str, Any]]) -> dict[str, Any] | None:
    """For a pod whose container has a catalog token in `env` (ACL on): an init container
    that waits until the catalog's ACL Job has made that token, so the pod starts with a
    token that works instead of failing (refused: a service's registration and leaf, the
    lb renderer's first query) and being restarted by the kubelet until then (`leapfrog
    catalog wait-token`, from leapfrog's image, as leapfrog's user)."""
    given = [e for e in env if e["name"] in _CATALOG_ENV]
    if not any(e["name"] == "CONSUL_HTTP_TOKEN" for e in given):
        return None
    return {
        "name": "catalog-token",
        "image": kube.image("leapfrog"),
        "command": ["leapfrog", "catalog", "wait-token", "--timeout", "30m"],
        "env": [*given, {"name": "HOME", "value": "/tmp"}],
        "securityContext": {**container_security(), "runAsUser": _LEAPFROG_UID},
        "resources": resources("10m", "64Mi"),
    }
