"""Flink on Kubernetes: a standalone session cluster from the official `flink` image.

A JobManager Deployment (one replica) behind a Service (`flink-jobmanager`: REST, RPC,
blob), and a TaskManager Deployment of `taskmanagers` replicas that register with it.
Both run Flink's own `jobmanager.sh` / `taskmanager.sh start-foreground` (not the image's
entrypoint, which rewrites its configuration in place) with the configuration leapfrog
writes in a ConfigMap, under a read-only root; scratch, pid and log folders are emptyDirs.
Checkpoints and savepoints go to the pods' scratch space: they survive a TaskManager's
restart, not the JobManager pod's (a shared volume or an object store is for later).
"""

from __future__ import annotations

from typing import Any

from leapfrog.components import kube as k
from leapfrog.components._flink_config import FlinkOptions, config_yaml, log4j_console_properties
from leapfrog.components.base import NotSupported

__all__ = ["render_flink"]

NAME = "flink"
JOBMANAGER = "flink-jobmanager"
TASKMANAGER = "flink-taskmanager"
_UID = 9999  # flink in the official image
_HOME = "/opt/flink"
_CONF = "/etc/flink"
_SCRATCH = "/tmp/flink"


def _settings(options: FlinkOptions) -> dict[str, str]:
    interval_ms = round(options.checkpoint_seconds() * 1000)
    settings = {
        "jobmanager.rpc.address": JOBMANAGER,
        "jobmanager.rpc.port": str(options.rpc_port),
        "jobmanager.bind-host": "0.0.0.0",
        "jobmanager.memory.process.size": options.jobmanager_memory,
        "blob.server.port": str(options.blob_port),
        "rest.address": JOBMANAGER,
        "rest.bind-address": "0.0.0.0",
        "rest.port": str(options.port),
        "taskmanager.bind-host": "0.0.0.0",
        "taskmanager.numberOfTaskSlots": str(options.slots),
        "taskmanager.memory.process.size": options.taskmanager_memory,
        "io.tmp.dirs": _SCRATCH,
        "web.tmpdir": f"{_SCRATCH}/web",
        "execution.checkpointing.interval": f"{interval_ms}ms",
        "execution.checkpointing.dir": f"file://{_SCRATCH}/checkpoints",
        "execution.checkpointing.savepoint-dir": f"file://{_SCRATCH}/savepoints",
    }
    settings.update(options.config)
    return settings


def _container(
    name: str, image: str, argv: list[str], memory: str, ports: dict[str, int]
) -> dict[str, Any]:
    volumes_mounts = [
        {"name": "config", "mountPath": _CONF, "readOnly": True},
        {"name": "scratch", "mountPath": "/tmp"},
    ]
    return {
        "name": name,
        "image": image,
        "command": argv,
        "env": [
            {"name": "FLINK_CONF_DIR", "value": _CONF},
            {"name": "FLINK_LOG_DIR", "value": "/tmp/log"},
            {"name": "FLINK_PID_DIR", "value": "/tmp"},
            {"name": "LEAPFROG_FLINK_PROCESS", "value": name},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        "ports": [{"name": n, "containerPort": p} for n, p in ports.items()],
        "securityContext": k.container_security(),
        "resources": k.resources("250m", k.heap_plus(memory, 0)),
        "volumeMounts": volumes_mounts,
    }


def _deployment(
    options: FlinkOptions, kube: k.KubeContext, name: str, replicas: int, container: Any
) -> k.Manifest:
    pod = k.restricted_pod(
        _UID,
        [container],
        [
            {"name": "config", "configMap": {"name": f"{NAME}-config"}},
            {"name": "scratch", "emptyDir": {}},
        ],
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": kube.meta(name, "stream-processing", options.version, app=name),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": kube.selector(name)},
            "template": {
                "metadata": {"labels": kube.labels(name, "stream-processing", options.version)},
                "spec": pod,
            },
        },
    }


def render_flink(options: FlinkOptions, kube: k.KubeContext) -> k.KubeRender:
    if options.jobs:
        raise NotSupported(
            "flink's jobs cannot be rendered to Kubernetes yet (the cluster can): submit "
            "them with the SQL client against FLINK_REST_URL, or leave `jobs:` out"
        )
    image = kube.image("flink", options.version)
    rest = {"rest": options.port, "rpc": options.rpc_port, "blob": options.blob_port}
    ready = {"tcpSocket": {"port": options.port}}
    jobmanager = _container(
        "jobmanager",
        image,
        [f"{_HOME}/bin/jobmanager.sh", "start-foreground"],
        options.jobmanager_memory,
        rest,
    )
    jobmanager["readinessProbe"] = {**ready, "periodSeconds": 5}
    jobmanager["livenessProbe"] = {**ready, "periodSeconds": 10, "failureThreshold": 6}
    taskmanager = _container(
        "taskmanager",
        image,
        [
            f"{_HOME}/bin/taskmanager.sh",
            "start-foreground",
            "-Dtaskmanager.host=$(POD_IP)",
        ],
        options.taskmanager_memory,
        {},
    )
    config = {
        "config.yaml": config_yaml(_settings(options)),
        "log4j-console.properties": log4j_console_properties(),
    }
    objects = [
        k.config_map(kube, f"{NAME}-config", NAME, config),
        k.service(kube, JOBMANAGER, JOBMANAGER, "stream-processing", rest),
        _deployment(options, kube, JOBMANAGER, 1, jobmanager),
        _deployment(options, kube, TASKMANAGER, options.taskmanagers, taskmanager),
    ]
    url = f"http://{JOBMANAGER}.{kube.namespace}.svc:{options.port}"
    return k.KubeRender(
        objects, [{"name": "FLINK_REST_URL", "value": url}], ports={"flink": options.port}
    )
