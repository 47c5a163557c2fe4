"""Kafka on Kubernetes: the official apache/kafka image as a one-broker KRaft StatefulSet,
configured by the same server.properties as locally, and a Job creating the topics."""

from __future__ import annotations

import base64
import shlex
import uuid
from pathlib import Path
from typing import Any

from leapfrog.components import kube as k
from leapfrog.components._kafka_config import KafkaOptions, log4j2_properties, server_properties

__all__ = ["render_kafka"]

NAME = "kafka"
_UID = 1000  # appuser in apache/kafka
_BIN = "/opt/kafka/bin"
_DATA = "/var/lib/kafka/data"
_CONFIG = "/etc/leapfrog/kafka"
_LOG4J = "log4j2.properties"


def cluster_id(kube: k.KubeContext) -> str:
    """Stable per namespace and stack: re-rendering must not ask for a new format."""
    raw = uuid.uuid5(uuid.NAMESPACE_URL, f"leapfrog:{kube.namespace}/{kube.stack}/kafka").bytes
    text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return "A" + text[1:] if text.startswith("-") else text


def bootstrap(kube: k.KubeContext, options: KafkaOptions) -> str:
    return f"{NAME}-0.{NAME}.{kube.namespace}.svc:{options.port}"


def _properties(kube: k.KubeContext, options: KafkaOptions) -> str:
    host = f"{NAME}-0.{NAME}.{kube.namespace}.svc"
    text = server_properties(options, host, options.port, Path(_DATA) / "kraft-logs")
    # Listen on every interface of the pod; advertise the pod's stable DNS name.
    listen = f"listeners=PLAINTEXT://:{options.port},CONTROLLER://:{options.controller_port}"
    return (
        "\n".join(listen if line.startswith("listeners=") else line for line in text.splitlines())
        + "\n"
    )


def _env(options: KafkaOptions) -> list[dict[str, Any]]:
    return [
        {"name": "KAFKA_HEAP_OPTS", "value": f"-Xmx{options.heap} -Xms{options.heap}"},
        {
            "name": "KAFKA_LOG4J_OPTS",
            "value": f"-Dlog4j2.configurationFile={_CONFIG}/log4j2.properties",
        },
        {"name": "LOG_DIR", "value": "/tmp/kafka-logs"},
    ]


def _container(name: str, image: str, command: list[str], options: KafkaOptions) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "command": command,
        "env": _env(options),
        "securityContext": k.container_security(),
        "resources": k.resources("250m", _memory(options.heap)),
        "volumeMounts": [
            {"name": "data", "mountPath": _DATA},
            {"name": "config", "mountPath": _CONFIG, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def _memory(heap: str) -> str:
    """Heap plus room for the JVM's own memory (metaspace, threads, buffers)."""
    return k.heap_plus(heap, 384)


def render_kafka(options: KafkaOptions, kube: k.KubeContext) -> k.KubeRender:
    image = kube.image("kafka", options.version)
    config = f"{_CONFIG}/server.properties"
    fmt = [
        f"{_BIN}/kafka-storage.sh",
        "format",
        "--ignore-formatted",
        "-t",
        cluster_id(kube),
        "-c",
        config,
    ]
    broker = _container(NAME, image, [f"{_BIN}/kafka-server-start.sh", config], options)
    probe = {"tcpSocket": {"port": options.port}}
    broker.update(
        ports=[
            {"name": "client", "containerPort": options.port},
            {"name": "controller", "containerPort": options.controller_port},
        ],
        readinessProbe={**probe, "periodSeconds": 5},
        livenessProbe={**probe, "periodSeconds": 10, "failureThreshold": 6},
        startupProbe={**probe, "periodSeconds": 2, "failureThreshold": 90},
    )
    pod = {
        "securityContext": k.pod_security(_UID),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 30,
        "initContainers": [_container("format", image, fmt, options)],
        "containers": [broker],
        "volumes": [
            {"name": "config", "configMap": {"name": f"{NAME}-config"}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    objects = [
        k.config_map(
            kube,
            f"{NAME}-config",
            NAME,
            {
                "server.properties": _properties(kube, options),
                "log4j2.properties": log4j2_properties(),
            },
        ),
        k.service(
            kube,
            NAME,
            NAME,
            "kafka",
            {"client": options.port, "controller": options.controller_port},
            headless=True,
        ),
        k.stateful_set(kube, NAME, "kafka", options.version, pod=pod, storage=("kafka", "10Gi")),
    ]
    if options.topics:
        objects.append(_topics_job(options, kube, image))
    env = [{"name": "KAFKA_BOOTSTRAP_SERVERS", "value": bootstrap(kube, options)}]
    return k.KubeRender(objects, env, ports={"kafka": options.port})


def _topics_job(options: KafkaOptions, kube: k.KubeContext, image: str) -> k.Manifest:
    server = shlex.quote(bootstrap(kube, options))
    lines = ["set -e"]
    for topic, spec in options.topics.items():
        name = shlex.quote(topic)
        configs = spec.topic_config()
        create = " ".join(f"--config {shlex.quote(f'{key}={v}')}" for key, v in configs.items())
        lines.append(
            f"{_BIN}/kafka-topics.sh --bootstrap-server {server} --create --if-not-exists "
            f"--topic {name} --partitions {spec.partitions} --replication-factor 1 {create}"
        )
        # Values with commas (compact,delete) are bracketed in --add-config's syntax.
        alter = ",".join(f"{key}=[{v}]" if "," in v else f"{key}={v}" for key, v in configs.items())
        lines.append(
            f"{_BIN}/kafka-configs.sh --bootstrap-server {server} --alter --entity-type topics "
            f"--entity-name {name} --add-config {shlex.quote(alter)}"
        )
    container = _container("topics", image, ["sh", "-c", "\n".join(lines)], options)
    container["resources"] = k.resources("100m", "384Mi")
    container["env"] = [
        {"name": "KAFKA_HEAP_OPTS", "value": "-Xmx128m"},
        {"name": "LOG_DIR", "value": "/tmp/kafka-logs"},
    ]
    container["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
    pod = {
        "securityContext": k.pod_security(_UID),
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    return k.job(kube, f"{NAME}-topics", pod)
