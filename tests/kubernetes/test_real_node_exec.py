"""`leapfrog exec --target kubernetes` against real containers on the real node: the
command runs once in each running pod of the service (in the service's own container,
with the pod's environment), output prefixed by pod, exit codes as the command's, a
pod of another stack never chosen, and a name nothing has answered with what runs.

After test_real_node.py (its first test needs the machine's only node to itself)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from leapfrog.testing import RealNode, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

STACK = "name: shop\nservices:\n  web:\n    command: sleep 1\n    image: example/web\n"


def _deployment(name: str, stack: str, replicas: int) -> dict[str, Any]:
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": stack,
        "app.kubernetes.io/component": "service",
    }
    container = {
        "name": name,
        "command": ["sleep", "3600"],
        "env": [{"name": "GREETING", "value": f"hello-{stack}"}],
    }
    # A second container first: the command must run in the service's own one.
    side = {"name": "sidecar", "command": ["sleep", "3600"]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{stack}-{name}", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": RealNode.pod_spec([side, container]),
            },
        },
    }


def test_exec_runs_in_each_pod_of_the_service(real_node: RealNode, tmp_path: Path) -> None:
    plane = real_node.plane
    namespace = f"exec-{uuid.uuid4().hex[:8]}"
    plane.kubectl("create", "namespace", namespace)
    plane.kubectl(
        "wait", "-n", namespace, "serviceaccount/default", "--for=create", "--timeout=30s"
    )
    try:
        objects = [_deployment("web", "shop", 2), _deployment("web", "blog", 1)]
        plane.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(objects))
        for name in ("shop-web", "blog-web"):
            plane.kubectl(
                "rollout", "status", "-n", namespace, f"deployment/{name}", "--timeout=90s"
            )
        (tmp_path / "leapfrog.yaml").write_text(STACK)
        where = ("--target", "kubernetes", "--kubeconfig", str(plane.kubeconfig), "-n", namespace)
        said = run_cli(
            "exec", *where, "web", "--", "sh", "-c", 'echo "$GREETING from $(hostname)"',
            cwd=tmp_path,
        )  # fmt: skip
        assert said.code == 0, said.output
        pods = sorted(
            p["metadata"]["name"]
            for p in json.loads(plane.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)[
                "items"
            ]
            if p["metadata"]["labels"]["app.kubernetes.io/part-of"] == "shop"
        )
        assert len(pods) == 2
        for name in pods:
            assert f"{name} | hello-shop from {name}" in said.stdout, said.output
        assert "hello-blog" not in said.stdout
        assert "exit 0 in all 2 instance(s)" in said.stdout

        failing = run_cli(
            "exec", *where, "web", "--json", "--", "sh", "-c", "echo out; echo err >&2; exit 3",
            cwd=tmp_path,
        )  # fmt: skip
        assert failing.code == 1, failing.output
        body = json.loads(failing.stdout)
        assert body["failed"] == 2
        assert {r["exit_code"] for r in body["results"]} == {3}
        assert {r["stdout"] for r in body["results"]} == {"out"}
        assert {r["stderr"] for r in body["results"]} == {"err"}

        missing = run_cli("exec", *where, "api", "--", "true", cwd=tmp_path)
        assert missing.code != 0
        assert "no running pod of shop is named or belongs to 'api'" in missing.output
        assert "Traceback" not in missing.output
    finally:
        plane.kubectl("delete", "namespace", namespace, "--wait=false")
