"""Flink's standalone session cluster on a real control plane: `leapfrog apply` creates
the JobManager (Deployment + Service) and the TaskManagers' Deployment, the API server
accepts them, they roll out, and a service receives FLINK_REST_URL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from leapfrog.testing import ControlPlane, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NAMESPACE = "flinkns"


def test_flink_applies_and_rolls_out(control_plane: ControlPlane, tmp_path: Path) -> None:
    stack = tmp_path / "leapfrog.yaml"
    data = {
        "name": "streams",
        "components": {"flink": {"taskmanagers": 2}},
        "services": {"web": {"command": "x", "image": "reg.example/web", "port": 8000}},
        "kubernetes": {"namespace": NAMESPACE},
    }
    stack.write_text(yaml.safe_dump(data))
    result = run_cli(
        "apply", "--json", "-f", str(stack), "--kubeconfig", str(control_plane.kubeconfig),
        timeout=240,
    )  # fmt: skip
    assert result.code == 0, result.output
    changes = {(c["kind"], c["name"]) for c in json.loads(result.stdout)}
    for expected in [
        ("ConfigMap", "flink-config"),
        ("Service", "flink-jobmanager"),
        ("Deployment", "flink-jobmanager"),
        ("Deployment", "flink-taskmanager"),
    ]:
        assert expected in changes, changes
    out = control_plane.kubectl("get", "-n", NAMESPACE, "deployments", "-o", "json").stdout
    deployments = {d["metadata"]["name"]: d for d in json.loads(out)["items"]}
    taskmanagers = deployments["flink-taskmanager"]
    assert taskmanagers["spec"]["replicas"] == 2
    assert taskmanagers["status"].get("readyReplicas") == 2
    env = deployments["web"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "FLINK_REST_URL",
        "value": f"http://flink-jobmanager.{NAMESPACE}.svc:8081",
    } in env
