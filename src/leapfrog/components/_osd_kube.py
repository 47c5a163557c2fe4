"""OpenSearch Dashboards on Kubernetes, next to the console: the official
opensearchproject/opensearch-dashboards image reading the stack's OpenSearch, and a Job
that makes the logs pipeline's indices (`PREFIX-*`, time field `@timestamp`) its default
index pattern, so Discover opens on the stack's logs.

The node runs without its security plugin, so the UI must too. The image's entrypoint
would delete the plugin in place and edit its config, which a read-only root forbids:
instead an init container copies the plugins, less that one, to an emptyDir mounted
over the plugins folder, the config (a ConfigMap) names only the node, and the server
starts directly."""

from __future__ import annotations

import json
import shlex
from typing import Any

import yaml

from leapfrog.components import kube as k

__all__ = ["OSD_PORT", "render_opensearch_dashboards"]

NAME = "opensearch-dashboards"
OSD_PORT = 5601
_UID = 1000  # opensearch-dashboards in the official image
_HOME = "/usr/share/opensearch-dashboards"


def _index_pattern_job(kube: k.KubeContext, image: str, base: str, logs_index: str) -> k.Manifest:
    """Once the UI answers: the index pattern `PREFIX-*` (id PREFIX), made the default."""
    pattern = {"attributes": {"title": f"{logs_index}-*", "timeFieldName": "@timestamp"}}
    default = {"changes": {"defaultIndex": logs_index}}
    post = "curl -fsS -X POST -H 'osd-xsrf: true' -H 'Content-Type: application/json'"
    saved = f"{base}/api/saved_objects/index-pattern/{logs_index}?overwrite=true"
    settings = f"{base}/api/opensearch-dashboards/settings"
    steps = [
        f"{post} {shlex.quote(saved)} -d {shlex.quote(json.dumps(pattern))}",
        f"{post} {shlex.quote(settings)} -d {shlex.quote(json.dumps(default))}",
    ]
    script = f"until {' && '.join(steps)}; do sleep 5; done"
    return k.script_job(kube, f"{NAME}-index-pattern", image, script, _UID)


def render_opensearch_dashboards(
    version: str, kube: k.KubeContext, *, opensearch_url: str, logs_index: str
) -> k.KubeRender:
    image = kube.image(NAME, version)
    config = yaml.safe_dump(
        {"server.host": "0.0.0.0", "server.port": OSD_PORT, "opensearch.hosts": [opensearch_url]}
    )
    ready = {"httpGet": {"path": "/api/status", "port": OSD_PORT}}
    alive = {"tcpSocket": {"port": OSD_PORT}}
    plugins = {"name": "plugins", "mountPath": f"{_HOME}/plugins"}
    init = {
        "name": "plugins",
        "image": image,
        "command": [
            "sh", "-c",
            f"cp -a {_HOME}/plugins/. /plugins/ && rm -rf /plugins/securityDashboards",
        ],
        "securityContext": k.container_security(),
        "resources": k.resources("50m", "64Mi"),
        "volumeMounts": [{"name": "plugins", "mountPath": "/plugins"}],
    }  # fmt: skip
    container: dict[str, Any] = {
        "name": NAME,
        "image": image,
        "command": [f"{_HOME}/bin/opensearch-dashboards"],
        "ports": [{"name": "http", "containerPort": OSD_PORT}],
        "readinessProbe": {**ready, "periodSeconds": 5},
        "livenessProbe": {**alive, "periodSeconds": 10},
        "startupProbe": {**alive, "periodSeconds": 2, "failureThreshold": 150},
        "securityContext": k.container_security(),
        "resources": k.resources("100m", "512Mi", memory_limit="1Gi"),
        "volumeMounts": [
            plugins,
            {"name": "data", "mountPath": f"{_HOME}/data"},
            {"name": "tmp", "mountPath": "/tmp"},
            {
                "name": "config",
                "mountPath": f"{_HOME}/config/opensearch_dashboards.yml",
                "subPath": "opensearch_dashboards.yml",
                "readOnly": True,
            },
        ],
    }
    volumes = [
        {"name": "plugins", "emptyDir": {}},
        {"name": "data", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
        {"name": "config", "configMap": {"name": f"{NAME}-config"}},
    ]
    pod = k.restricted_pod(_UID, [container], volumes, grace=10)
    pod["initContainers"] = [init]
    deployment = k.deployment(kube, NAME, "dashboards", version, pod, config=k.content_hash(config))
    base = f"http://{NAME}.{kube.namespace}.svc:{OSD_PORT}"
    objects = [
        k.config_map(kube, f"{NAME}-config", NAME, {"opensearch_dashboards.yml": config}),
        k.service(kube, NAME, NAME, "dashboards", {"http": OSD_PORT}),
        deployment,
        k.stack_ingress(kube, NAME, OSD_PORT),
        _index_pattern_job(kube, image, base, logs_index),
    ]
    return k.KubeRender(objects, [])
