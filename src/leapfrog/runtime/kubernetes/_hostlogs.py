"""The stack file's `host_logs` on Kubernetes: a Fluent Bit DaemonSet (the official image)
on every node, shipping the node's kernel messages, journal, syslog and audit log, and
the container logs of the stack's namespace, to the stack's Kafka `logs` topic.

Reading the node's files needs hostPath volumes, which the stack's namespace (Pod
Security "restricted") refuses: the collector has a namespace of its own,
`<namespace>-node-logs`, labelled "privileged", and nothing else runs there.
"""

from __future__ import annotations

from typing import Any

from leapfrog.components import kube as k
from leapfrog.spec import HostLogsSpec

__all__ = ["fluent_bit_config", "render_host_logs"]

NAME = "node-logs"


def _tagged(tag: str, service: str, stack: str) -> str:
    return (
        "[FILTER]\n"
        "    Name record_modifier\n"
        f"    Match {tag}\n"
        f"    Record stack {stack}\n"
        f"    Record service {service}\n"
        "    Record host ${NODE_NAME}\n"
        "    Record instance ${NODE_NAME}\n"
        f"    Record source {service}\n"
    )


def fluent_bit_config(host_logs: HostLogsSpec, stack: str, namespace: str, brokers: str) -> str:
    """fluent-bit.conf: one input per source the stack file turns on, the fields every
    leapfrog event has, Kafka as the output (JSON, `ts` in ISO 8601)."""
    parts = ["[SERVICE]\n    Flush 1\n    Log_Level info\n    Parsers_File parsers.conf\n"]
    if host_logs.kmsg:
        parts.append("[INPUT]\n    Name kmsg\n    Tag host.kernel\n")
        parts.append(_tagged("host.kernel", "kernel", stack))
        parts.append("[FILTER]\n    Name modify\n    Match host.kernel\n    Rename msg message\n")
    if host_logs.journal:
        parts.append(
            "[INPUT]\n    Name systemd\n    Tag host.journal\n    Read_From_Tail On\n"
            "    Path /var/log/journal\n"
        )
        parts.append(_tagged("host.journal", "journal", stack))
        parts.append(
            "[FILTER]\n    Name modify\n    Match host.journal\n    Rename MESSAGE message\n"
        )
    for enabled, name, path in (
        (host_logs.syslog, "syslog", "/var/log/syslog"),
        (host_logs.audit, "audit", "/var/log/audit/audit.log"),
    ):
        if enabled:
            parts.append(
                f"[INPUT]\n    Name tail\n    Tag host.{name}\n    Path {path}\n"
                "    Key message\n    Skip_Long_Lines On\n"
            )
            parts.append(_tagged(f"host.{name}", name, stack))
    # The platform programs' own output (the SDK's services ship by themselves too; the
    # duplicates are theirs to drop by `instance`).
    parts.append(
        "[INPUT]\n    Name tail\n    Tag pods.*\n"
        f"    Path /var/log/containers/*_{namespace}_*.log\n"
        "    multiline.parser cri\n    Skip_Long_Lines On\n"
    )
    parts.append(_tagged("pods.*", "pod", stack))
    parts.append(
        "[OUTPUT]\n    Name kafka\n    Match *\n"
        f"    Brokers {brokers}\n    Topics logs\n    Format json\n"
        "    Timestamp_Key ts\n    Timestamp_Format iso8601\n"
    )
    return "\n".join(parts)


def render_host_logs(
    host_logs: HostLogsSpec, kube: k.KubeContext, platform_env: list[dict[str, Any]]
) -> list[k.Manifest]:
    """Nothing when no source is on, or when the stack has no Kafka to ship to."""
    if not any((host_logs.kmsg, host_logs.journal, host_logs.syslog, host_logs.audit)):
        return []
    brokers = next(
        (e.get("value") for e in platform_env if e.get("name") == "KAFKA_BOOTSTRAP_SERVERS"),
        None,
    )
    if not brokers:
        return []
    namespace = f"{kube.namespace}-{NAME}"
    own = k.KubeContext(namespace=namespace, stack=kube.stack, images=kube.images)
    config = fluent_bit_config(host_logs, kube.stack, kube.namespace, str(brokers))
    ns_meta = own.meta(namespace, "namespace")
    del ns_meta["namespace"]
    ns_meta["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"
    labels = own.labels(NAME, "log-collector")
    host_paths = [("varlog", "/var/log", "/var/log"), ("kmsg", "/dev/kmsg", "/dev/kmsg")]
    pod = {
        "serviceAccountName": NAME,
        "automountServiceAccountToken": False,
        "tolerations": [{"operator": "Exists"}],  # every node, control plane included
        "containers": [
            {
                "name": "fluent-bit",
                "image": own.image("fluent-bit"),
                "env": [
                    {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
                ],
                # Root reads the node's logs; CAP_SYSLOG the kernel buffer. Not privileged:
                # clusters (the test control plane too) may refuse privileged pods.
                "securityContext": {
                    "runAsUser": 0,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"], "add": ["SYSLOG", "DAC_READ_SEARCH"]},
                },
                "resources": {
                    "requests": {"cpu": "50m", "memory": "64Mi"},
                    "limits": {"memory": "256Mi"},
                },
                "volumeMounts": [
                    {
                        "name": "config",
                        "mountPath": "/fluent-bit/etc/fluent-bit.conf",
                        "subPath": "fluent-bit.conf",
                    },
                    *({"name": n, "mountPath": m, "readOnly": True} for n, _, m in host_paths),
                ],
            }
        ],
        "volumes": [
            {"name": "config", "configMap": {"name": NAME}},
            *({"name": n, "hostPath": {"path": p}} for n, p, _ in host_paths),
        ],
    }
    # The stack's namespace denies ingress from elsewhere; policies add up, so this one
    # lets the collector (and nothing else of its namespace) reach the brokers.
    from_collector = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": kube.meta("kafka-from-node-logs", "network", app="kafka"),
        "spec": {
            "podSelector": {"matchLabels": kube.selector("kafka")},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": namespace}
                            },
                            "podSelector": {"matchLabels": own.selector(NAME)},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": int(str(brokers).rsplit(":", 1)[1])}],
                }
            ],
        },
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": ns_meta},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": own.meta(NAME, "log-collector"),
            "automountServiceAccountToken": False,
        },
        k.config_map(own, NAME, NAME, {"fluent-bit.conf": config}),
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": own.meta(NAME, "log-collector"),
            "spec": {
                "selector": {"matchLabels": own.selector(NAME)},
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": {"leapfrog/config-hash": k.content_hash(config)},
                    },
                    "spec": pod,
                },
            },
        },
        from_collector,
    ]
