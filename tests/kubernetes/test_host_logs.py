"""`host_logs` on Kubernetes: the Fluent Bit DaemonSet, in a namespace of its own, is
accepted and created by the real API server (Pod Security admission included)."""

from __future__ import annotations

import json
from pathlib import Path

from leapfrog.runtime.kubernetes import render_stack
from leapfrog.spec import parse_stack
from leapfrog.testing import ControlPlane, run_cli

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
    # `leapfrog apply`, as a user would: the stack's objects and the collector's.
    stack_file = tmp_path / "leapfrog.yaml"
    stack_file.write_text(STACK)
    kubeconfig = str(control_plane.kubeconfig)
    applied = run_cli("apply", "--json", "-f", str(stack_file), "--kubeconfig", kubeconfig)
    assert applied.code == 0, applied.output
    created = {(c["kind"], c["name"]) for c in json.loads(applied.stdout)}
    assert ("DaemonSet", "node-logs") in created
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
