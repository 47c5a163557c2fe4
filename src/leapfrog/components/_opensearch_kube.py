"""OpenSearch on Kubernetes: the official opensearchproject/opensearch image as a one-node
StatefulSet with the same node settings as locally, the security plugin disabled
explicitly (as locally, where the node has none), and no demo certificates installed."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from leapfrog.components import kube as k
from leapfrog.components._opensearch_config import (
    CLUSTER_SETTINGS,
    OpenSearchOptions,
    node_settings,
    opensearch_yml,
)

__all__ = ["DATA", "NAME", "UID", "render_opensearch"]

NAME = "opensearch"
UID = 1000  # opensearch in the official image
_HOME = "/usr/share/opensearch"
DATA = f"{_HOME}/data"


def url(kube: k.KubeContext, options: OpenSearchOptions) -> str:
    return f"http://{NAME}-0.{NAME}.{kube.namespace}.svc:{options.port}"


def _settings(options: OpenSearchOptions) -> dict[str, object]:
    settings = node_settings(
        options, node_name="${HOSTNAME}", host="0.0.0.0", port=options.port, data=Path(DATA)
    )
    settings["plugins.security.disabled"] = True
    return settings


def render_opensearch(options: OpenSearchOptions, kube: k.KubeContext) -> k.KubeRender:
    ready = {
        "httpGet": {
            "path": "/_cluster/health?wait_for_status=yellow&timeout=1s",
            "port": options.port,
        }
    }
    alive = {"tcpSocket": {"port": options.port}}
    heap = options.heap
    container: dict[str, Any] = {
        "name": NAME,
        "image": kube.image("opensearch", options.version),
        "env": [
            {"name": "OPENSEARCH_JAVA_OPTS", "value": f"-Xms{heap} -Xmx{heap}"},
            # The image would otherwise set up TLS and users with demo certificates.
            {"name": "DISABLE_SECURITY_PLUGIN", "value": "true"},
            {"name": "DISABLE_INSTALL_DEMO_CONFIG", "value": "true"},
            {"name": "DISABLE_PERFORMANCE_ANALYZER_AGENT_CLI", "value": "true"},
        ],
        "ports": [
            {"name": "http", "containerPort": options.port},
            {"name": "transport", "containerPort": options.transport_port},
        ],
        "readinessProbe": {**ready, "periodSeconds": 5},
        "livenessProbe": {**alive, "periodSeconds": 10, "failureThreshold": 6},
        "startupProbe": {**alive, "periodSeconds": 2, "failureThreshold": 90},
        # A read-only root: the node writes its data volume, its logs and temp files only.
        "securityContext": k.container_security(),
        "resources": k.resources("250m", k.heap_plus(heap, 512)),  # Lucene, threads
        "volumeMounts": [
            {"name": "data", "mountPath": DATA},
            {
                "name": "config",
                "mountPath": f"{_HOME}/config/opensearch.yml",
                "subPath": "opensearch.yml",
                "readOnly": True,
            },
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "logs", "mountPath": f"{_HOME}/logs"},
        ],
    }
    pod = k.restricted_pod(
        UID,
        [container],
        [
            {"name": "config", "configMap": {"name": f"{NAME}-config"}},
            {"name": "tmp", "emptyDir": {}},
            {"name": "logs", "emptyDir": {}},
        ],
    )
    objects = [
        k.config_map(
            kube, f"{NAME}-config", NAME, {"opensearch.yml": opensearch_yml(_settings(options))}
        ),
        k.service(
            kube,
            NAME,
            NAME,
            "search",
            {"http": options.port, "transport": options.transport_port},
            headless=True,
        ),
        k.stateful_set(
            kube, NAME, "search", options.version, pod=pod, storage=("opensearch", "10Gi")
        ),
    ]
    objects.append(_settings_job(options, kube, container["image"]))
    env = [{"name": "OPENSEARCH_URL", "value": url(kube, options)}]
    return k.KubeRender(objects, env, ports={"opensearch": options.port})


def _settings_job(options: OpenSearchOptions, kube: k.KubeContext, image: str) -> k.Manifest:
    """The cluster settings `setup` puts locally, put once the node answers."""
    put = (
        "until curl -fsS -X PUT -H 'Content-Type: application/json' "
        f"{shlex.quote(url(kube, options) + '/_cluster/settings')} "
        f"-d {shlex.quote(json.dumps(CLUSTER_SETTINGS))}; do sleep 5; done"
    )
    return k.script_job(kube, f"{NAME}-settings", image, put, UID)
