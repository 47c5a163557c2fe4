"""`host_logs` on Kubernetes: the Fluent Bit DaemonSet, in a namespace of its own, is
accepted and created by the real API server (Pod Security admission included)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from leapfrog.runtime.kubernetes import render_stack
from leapfrog.spec import parse_stack
from leapfrog.testing import ControlPlane

STACK = """\
name: nodelogs
components:
  kafka: {}
host_logs: {kmsg: true, journal: true, syslog: true, audit: true}
"""


def test_the_log_collector_daemonset_is_created(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    rendered = render_stack(parse_stack(STACK, "leapfrog.yaml", tmp_path))
    objects = rendered.parts["host-logs"]
    assert [o["kind"] for o in objects] == [
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "DaemonSet",
        "NetworkPolicy",
    ]
    config = objects[2]["data"]["fluent-bit.conf"]
    for line in (
        "Name kmsg",
        "Name systemd",
        "Path /var/log/syslog",
        "Name kafka",
        "Brokers kafka-0.kafka.nodelogs.svc:9092",
        "Record stack nodelogs",
    ):
        assert line in config, line
    # The stack's namespace holds the policy that lets the collector reach Kafka.
    text = yaml.safe_dump_all([*rendered.parts["namespace"], *objects])
    control_plane.kubectl("apply", "-f", "-", input=text)
    policy = json.loads(
        control_plane.kubectl(
            "get", "networkpolicy", "kafka-from-node-logs", "-n", "nodelogs", "-o", "json"
        ).stdout
    )
    source = policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]
    assert source == {"kubernetes.io/metadata.name": "nodelogs-node-logs"}
    found = json.loads(
        control_plane.kubectl(
            "get", "daemonset", "node-logs", "-n", "nodelogs-node-logs", "-o", "json"
        ).stdout
    )
    container = found["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith("fluent/fluent-bit:")
    for namespace in ("nodelogs-node-logs", "nodelogs"):
        control_plane.kubectl("delete", "namespace", namespace, "--wait=false")


def test_nothing_is_rendered_without_a_source(tmp_path: Path) -> None:
    rendered = render_stack(parse_stack("components: {kafka: {}}\n", "leapfrog.yaml", tmp_path))
    assert "host-logs" not in rendered.parts
