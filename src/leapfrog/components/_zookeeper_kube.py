"""ZooKeeper on Kubernetes: the official zookeeper image as a standalone StatefulSet with
the same zoo.cfg and logging as locally (the image uses a mounted /conf as it is)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from leapfrog.components import kube as k

if TYPE_CHECKING:
    from leapfrog.components.zookeeper import ZooKeeperOptions

__all__ = ["NAME", "UID", "render_zookeeper"]

NAME = "zookeeper"
UID = 1000  # zookeeper in the official image


def render_zookeeper(
    options: ZooKeeperOptions, kube: k.KubeContext, zoo_cfg: str, logback_xml: str
) -> k.KubeRender:
    probe = {"tcpSocket": {"port": options.port}}
    container: dict[str, Any] = {
        "name": NAME,
        "image": kube.image("zookeeper", options.version),
        "env": [
            {"name": "JVMFLAGS", "value": f"-Xmx{options.heap} -Xms{options.heap}"},
            {"name": "ZOO_LOG_DIR", "value": "/logs"},
        ],
        "ports": [
            {"name": "client", "containerPort": options.port},
            {"name": "admin", "containerPort": options.admin_port},
        ],
        "readinessProbe": {**probe, "periodSeconds": 5},
        "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 6},
        "startupProbe": {**probe, "periodSeconds": 2, "failureThreshold": 60},
        "securityContext": k.container_security(),
        "resources": k.resources("100m", "512Mi"),
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "config", "mountPath": "/conf", "readOnly": True},
            {"name": "logs", "mountPath": "/logs"},
            {"name": "datalog", "mountPath": "/datalog"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod = {
        "securityContext": k.pod_security(UID),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": f"{NAME}-config"}},
            {"name": "logs", "emptyDir": {}},
            {"name": "datalog", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    objects = [
        k.config_map(
            kube, f"{NAME}-config", NAME, {"zoo.cfg": zoo_cfg, "logback.xml": logback_xml}
        ),
        k.service(
            kube,
            NAME,
            NAME,
            "zookeeper",
            {"client": options.port, "admin": options.admin_port},
            headless=True,
        ),
        k.stateful_set(
            kube, NAME, "zookeeper", options.version, pod=pod, storage=("zookeeper", "5Gi")
        ),
    ]
    address = f"{NAME}-0.{NAME}.{kube.namespace}.svc:{options.port}"
    env = [{"name": "ZOOKEEPER_CONNECT", "value": address}]
    return k.KubeRender(
        objects, env, ports={"zookeeper": options.port}, store_ports={"admin": options.admin_port}
    )
