"""Grafana and OpenSearch Dashboards next to the console on a real control plane: the
API server accepts every rendered object under a strict server-side dry run, `leapfrog
apply` creates them, they roll out to Ready, and what the cluster holds is Grafana
provisioned with the stack's InfluxDB and OpenSearch and the console's own dashboards."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from leapfrog.components.dashboards import DASHBOARDS
from leapfrog.testing import ControlPlane, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NAMESPACE = "consoleuis"
STACK = {
    "name": "uis",
    "components": {
        "opensearch": {},
        "influxdb": {"databases": {"metrics": {}}},
        "console": {"metrics_database": "metrics"},
    },
    "services": {"web": {"command": "x", "image": "reg.example/web", "port": 8000}},
    "kubernetes": {"namespace": NAMESPACE},
}


def _rendered(stack: Path, tmp_path: Path) -> list[dict[str, Any]]:
    result = run_cli("render", "-f", str(stack), cwd=tmp_path)
    assert result.code == 0, result.output
    return [o for o in yaml.safe_load_all(result.stdout) if o]


def test_grafana_and_opensearch_dashboards_apply_and_roll_out(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    stack = tmp_path / "leapfrog.yaml"
    stack.write_text(yaml.safe_dump(STACK))
    objects = _rendered(stack, tmp_path)
    ours = [o for o in objects if o["metadata"]["name"].startswith(("grafana", "opensearch-dash"))]
    assert {o["kind"] for o in ours} == {
        "ConfigMap", "Deployment", "Service", "NetworkPolicy", "Job"
    }  # fmt: skip

    # Strict: an unknown or misspelt field anywhere is an error, not a silent drop.
    namespace = next(o for o in objects if o["kind"] == "Namespace")
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(namespace))
    checked = control_plane.kubectl(
        "apply", "--server-side", "--dry-run=server", "--validate=strict",
        "--field-manager=leapfrog-test", "-f", "-",
        input=yaml.safe_dump_all(ours), check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.count("(server dry run)") == len(ours), checked.stdout

    result = run_cli(
        "apply", "--json", "-f", str(stack), "--kubeconfig", str(control_plane.kubeconfig),
        cwd=tmp_path, timeout=240,
    )  # fmt: skip
    assert result.code == 0, result.output
    changes = {(c["kind"], c["name"]) for c in json.loads(result.stdout)}
    for expected in [
        ("Deployment", "grafana"),
        ("Deployment", "opensearch-dashboards"),
        ("ConfigMap", "grafana-dashboards"),
        ("Secret", "grafana-admin"),
    ]:
        assert expected in changes, changes
    for name in ("grafana", "opensearch-dashboards", "console"):
        rolled = run_cli(
            "rollout", "status", f"deployment/{name}", "--timeout", "180s", "--json",
            "-f", str(stack), "--kubeconfig", str(control_plane.kubeconfig), cwd=tmp_path,
        )  # fmt: skip
        assert rolled.code == 0, rolled.output
        final = json.loads(rolled.stdout.splitlines()[-1])
        assert final["done"] and final["ready"] == final["desired"] == 1, final

    def get(*args: str) -> Any:
        out = control_plane.kubectl("get", "-n", NAMESPACE, *args, "-o", "json").stdout
        return json.loads(out)

    boards = get("configmap", "grafana-dashboards")["data"]
    assert set(boards) == {f"{b.name}.json" for b in DASHBOARDS}
    for board in DASHBOARDS:
        model = json.loads(boards[f"{board.name}.json"])
        queries = [p["targets"][0]["query"] for p in model["panels"]]
        assert queries == [p.query for p in board.panels]
    provisioning = get("configmap", "grafana-provisioning")["data"]
    sources = yaml.safe_load(provisioning["datasources.yaml"])["datasources"]
    assert {s["type"]: s["url"] for s in sources} == {
        "influxdb": f"http://influxdb-0.influxdb.{NAMESPACE}.svc:8086",
        "grafana-opensearch-datasource": f"http://opensearch-0.opensearch.{NAMESPACE}.svc:9200",
    }
    password = base64.b64decode(get("secret", "grafana-admin")["data"]["password"]).decode()
    assert len(password) >= 16 and password not in result.output  # generated, never printed
