"""The console on Kubernetes: `leapfrog console serve` in the leapfrog image, one
Deployment and its Service, reading the real Consul and the stores through the env the
other components give services. It has no supervisor there (the overview says so)."""

from __future__ import annotations

from typing import Any

from leapfrog.components import kube as k

__all__ = ["render_console"]

_STORES = ("OPENSEARCH_URL", "INFLUXDB_URL", "FLINK_URL")


def render_console(
    port: int, logs_index: str, metrics_database: str, kube: k.KubeContext
) -> k.KubeRender:
    given = {entry["name"]: entry for entry in kube.platform_env}
    env: list[dict[str, Any]] = [
        *(e for e in kube.catalog_env if e["name"] == "CONSUL_HTTP_ADDR"),
        *(given[name] for name in _STORES if name in given),
        {"name": "HOME", "value": "/tmp"},
        {"name": "LEAPFROG_STACK", "value": kube.stack},
    ]
    health = {"httpGet": {"path": "/healthz", "port": port}}
    volumes, mounts = k.empty_dirs("/tmp")
    command = [
        "leapfrog", "console", "serve",
        "--listen", f"0.0.0.0:{port}",
        "--logs-index", logs_index,
        "--metrics-database", metrics_database,
    ]  # fmt: skip
    container = {
        "name": "console",
        "image": kube.image("leapfrog"),
        "command": command,
        "env": env,
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {**health, "periodSeconds": 5},
        "livenessProbe": {**health, "periodSeconds": 10, "failureThreshold": 6},
        "securityContext": k.container_security(),
        "resources": k.resources("50m", "96Mi", memory_limit="256Mi"),
        "volumeMounts": mounts,
    }
    pod = {
        "securityContext": k.pod_security(10001),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 10,
        "containers": [container],
        "volumes": volumes,
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": kube.meta("console", "console"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": kube.selector("console")},
            "template": {"metadata": {"labels": kube.labels("console", "console")}, "spec": pod},
        },
    }
    objects = [k.service(kube, "console", "console", "console", {"http": port}), deployment]
    url = f"http://console.{kube.namespace}.svc:{port}"
    return k.KubeRender(
        objects, [{"name": "LEAPFROG_CONSOLE_URL", "value": url}], ports={"http": port}
    )
