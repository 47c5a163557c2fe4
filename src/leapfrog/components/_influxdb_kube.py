"""InfluxDB on Kubernetes: the official influxdb image (1.8) as a StatefulSet with the same
influxdb.conf as locally, and a Job creating the declared databases and retention
policies with the image's `influx` client, as `setup` does locally."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from leapfrog.components import kube as k
from leapfrog.components._influxdb_config import (
    InfluxDBOptions,
    create_database,
    influxdb_conf,
    retention_policy_statement,
)

__all__ = ["render_influxdb"]

NAME = "influxdb"
_UID = 1000  # non-root; influxd writes only its volume and /tmp
_DATA = "/var/lib/influxdb"
_CONFIG = "/etc/influxdb"


def host(kube: k.KubeContext) -> str:
    return f"{NAME}-0.{NAME}.{kube.namespace}.svc"


def render_influxdb(options: InfluxDBOptions, kube: k.KubeContext) -> k.KubeRender:
    image = kube.image("influxdb", options.version)
    conf = influxdb_conf(options, host="", port=options.port, data=Path(_DATA), rpc_host="")
    ready = {"httpGet": {"path": "/ping", "port": options.port}}
    container: dict[str, Any] = {
        "name": NAME,
        "image": image,
        "command": ["influxd", "run", "-config", f"{_CONFIG}/influxdb.conf"],
        "ports": [
            {"name": "http", "containerPort": options.port},
            {"name": "rpc", "containerPort": options.rpc_port},
        ],
        "readinessProbe": {**ready, "periodSeconds": 5},
        "livenessProbe": {**ready, "periodSeconds": 10, "failureThreshold": 6},
        "startupProbe": {**ready, "periodSeconds": 2, "failureThreshold": 60},
        "securityContext": k.container_security(),
        "resources": k.resources("100m", "256Mi", memory_limit="1Gi"),
        "volumeMounts": [
            {"name": "data", "mountPath": _DATA},
            {"name": "config", "mountPath": _CONFIG, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod = k.restricted_pod(
        _UID,
        [container],
        [
            {"name": "config", "configMap": {"name": f"{NAME}-config"}},
            {"name": "tmp", "emptyDir": {}},
        ],
    )
    objects = [
        k.config_map(kube, f"{NAME}-config", NAME, {"influxdb.conf": conf}),
        k.service(
            kube,
            NAME,
            NAME,
            "metrics",
            {"http": options.port, "rpc": options.rpc_port},
            headless=True,
        ),
        k.stateful_set(
            kube, NAME, "metrics", options.version, pod=pod, storage=("influxdb", "10Gi")
        ),
    ]
    if options.databases:
        objects.append(_databases_job(options, kube, image))
    env = [{"name": "INFLUXDB_URL", "value": f"http://{host(kube)}:{options.port}"}]
    return k.KubeRender(
        objects, env, ports={"influxdb": options.port}, store_ports={"rpc": options.rpc_port}
    )


def _databases_job(options: InfluxDBOptions, kube: k.KubeContext, image: str) -> k.Manifest:
    client = f"influx -host {shlex.quote(host(kube))} -port {options.port} -execute"
    lines = ["set -e", f"until {client} 'SHOW DATABASES' >/dev/null; do sleep 2; done"]
    for database, spec in options.databases.items():
        lines.append(f"{client} {shlex.quote(create_database(database))}")
        for name, policy in spec.retention_policies.items():
            create = retention_policy_statement("CREATE", database, name, policy)
            alter = retention_policy_statement("ALTER", database, name, policy)
            # CREATE refuses a policy that exists with other settings: ALTER it then.
            lines.append(f"{client} {shlex.quote(create)} || {client} {shlex.quote(alter)}")
    return k.script_job(kube, f"{NAME}-databases", image, "\n".join(lines), _UID)
