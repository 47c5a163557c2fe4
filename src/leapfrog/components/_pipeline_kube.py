"""A pipeline on Kubernetes: `leapfrog pipeline logs|metrics` in the leapfrog image,
one Deployment (its members share the topic's partitions as one consumer group), the
store and Kafka found through the env the other components give services."""

from __future__ import annotations

from typing import Any

from leapfrog.components import kube as k
from leapfrog.components.base import NotSupported

__all__ = ["render_pipeline"]


def render_pipeline(
    kind: str, argv: list[str], port: int, needs: tuple[str, ...], kube: k.KubeContext
) -> k.KubeRender:
    """`argv`: the pipeline's arguments after `leapfrog pipeline SINK`; `needs`: the env
    it reads (KAFKA_BOOTSTRAP_SERVERS, OPENSEARCH_URL, ...) unless argv names them."""
    given = {entry["name"]: entry for entry in kube.platform_env}
    env: list[dict[str, Any]] = [{"name": "HOME", "value": "/tmp"}]
    for name in needs:
        if name not in given:
            # NotSupported: the renderer names the component and how to leave it out.
            raise NotSupported(
                f"{kind} needs {name}, which no component of this stack gives: add "
                "kafka and the store to `components:`, or set the pipeline's `kafka:` and `url:`"
            )
        env.append(given[name])
    env.append({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    health = {"httpGet": {"path": "/health", "port": port}}
    volumes, mounts = k.empty_dirs("/tmp")
    command = [
        "leapfrog", "pipeline", *argv,
        "--listen", f"0.0.0.0:{port}",
        "--instance", "$(POD_NAME)",
        "--data-dir", "/tmp/data",
    ]  # fmt: skip
    container = {
        "name": kind,
        "image": kube.image("leapfrog"),
        "command": command,
        "env": env,
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {**health, "periodSeconds": 5},
        "livenessProbe": {**health, "periodSeconds": 10, "failureThreshold": 6},
        "securityContext": k.container_security(),
        "resources": k.resources("100m", "128Mi", memory_limit="256Mi"),
        "volumeMounts": mounts,
    }
    pod = {
        "securityContext": k.pod_security(10001),
        "automountServiceAccountToken": False,
        # A batch in hand when it stops is not committed: Kafka gives it to the next one.
        "terminationGracePeriodSeconds": 20,
        "containers": [container],
        "volumes": volumes,
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": kube.meta(kind, "pipeline"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": kube.selector(kind)},
            "template": {"metadata": {"labels": kube.labels(kind, "pipeline")}, "spec": pod},
        },
    }
    objects = [k.service(kube, kind, kind, "pipeline", {"http": port}), deployment]
    url_name = f"LEAPFROG_{kind.upper().replace('-', '_')}_URL"
    url = f"http://{kind}.{kube.namespace}.svc:{port}"
    return k.KubeRender(objects, [{"name": url_name, "value": url}], ports={"http": port})
