"""Named volumes on a real control plane: the API server accepts the rendered objects
(server-side dry run), `leapfrog apply` makes a StatefulSet whose pods each get a claim
of the declared size, a shared claim named as the volume, and a rollout keeps the claims."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from leapfrog.testing import ControlPlane, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NAMESPACE = "volumes"


def _stack(namespace: str, version: str = "1.0.0") -> dict[str, Any]:
    service = {"command": "sleep 1000", "image": "registry.example.com/web", "port": 8000}
    return {
        "name": "vols",
        "catalog": {"enabled": False},
        "kubernetes": {"namespace": namespace},
        "volumes": {"data": {"size": "64Mi"}, "uploads": {"scope": "shared", "size": "128Mi"}},
        "services": {
            "web": {
                **service,
                "replicas": 2,
                "version": version,
                "volumes": ["data:/var/lib/web", "uploads"],
            },
            "admin": {**service, "port": 8001, "volumes": ["uploads:/srv/uploads"]},
        },
    }


def _write(directory: Path, data: dict[str, Any]) -> Path:
    path = directory / "leapfrog.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _get(plane: ControlPlane, *args: str) -> Any:
    return json.loads(plane.kubectl("get", "-n", NAMESPACE, *args, "-o", "json").stdout)


def test_server_dry_run_accepts_the_rendered_volumes(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    stack = _write(tmp_path, _stack("volumes-dry-run"))
    out = tmp_path / "rendered"
    result = run_cli("render", "-f", str(stack), "-o", str(out))
    assert result.code == 0, result.output
    control_plane.kubectl("apply", "-f", str(out / "00-namespace.yaml"))
    checked = control_plane.kubectl("apply", "--dry-run=server", "-f", str(out))
    lines = [line for line in checked.stdout.splitlines() if line.strip()]
    assert any(line.startswith("statefulset.apps/web ") for line in lines), lines
    assert any(line.startswith("persistentvolumeclaim/uploads") for line in lines), lines
    assert all("(server dry run)" in line for line in lines), lines
    control_plane.kubectl("delete", "namespace", "volumes-dry-run", "--wait=false")


def test_apply_makes_claims_per_pod_and_a_rollout_keeps_them(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    stack = _write(tmp_path, _stack(NAMESPACE))

    def cli(*args: str) -> Any:
        result = run_cli(
            *args, "-f", str(stack), "--kubeconfig", str(control_plane.kubeconfig), timeout=240
        )
        assert result.code == 0, result.output
        return result

    try:
        created = json.loads(cli("apply", "--json").stdout)
        kinds = {(c["kind"], c["name"]) for c in created}
        assert ("StatefulSet", "web") in kinds and ("Deployment", "admin") in kinds
        assert ("PersistentVolumeClaim", "uploads") in kinds
        for name in ("statefulset/web", "deployment/admin"):
            status = cli("rollout", "status", name, "--timeout", "180s", "--json")
            assert json.loads(status.stdout.splitlines()[-1])["done"], status.output

        claims = {c["metadata"]["name"]: c for c in _get(control_plane, "pvc")["items"]}
        assert set(claims) == {"data-web-0", "data-web-1", "uploads"}
        for name, size in (("data-web-0", "64Mi"), ("data-web-1", "64Mi"), ("uploads", "128Mi")):
            assert claims[name]["spec"]["resources"]["requests"]["storage"] == size
            assert claims[name]["status"]["phase"] == "Bound", claims[name]["status"]
        assert claims["uploads"]["spec"]["accessModes"] == ["ReadWriteMany"]
        uids = {n: c["metadata"]["uid"] for n, c in claims.items()}

        pod = _get(control_plane, "pod", "web-0")
        claimed = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in pod["spec"]["volumes"]
            if "persistentVolumeClaim" in v
        }
        assert claimed == {"data": "data-web-0", "uploads": "uploads"}

        # A rollout replaces the pods; each comes back to its own claim.
        _write(tmp_path, _stack(NAMESPACE, version="1.1.0"))
        changes = {
            (c["kind"], c["name"]): c["action"] for c in json.loads(cli("apply", "--json").stdout)
        }
        assert changes[("StatefulSet", "web")] == "configured"
        status = cli("rollout", "status", "statefulset/web", "--timeout", "180s", "--json")
        assert json.loads(status.stdout.splitlines()[-1])["done"], status.output
        pods = _get(control_plane, "pods", "-l", "app.kubernetes.io/name=web")["items"]
        images = {c["image"] for p in pods for c in p["spec"]["containers"]}
        assert images == {"registry.example.com/web:1.1.0"}
        after = {
            c["metadata"]["name"]: c["metadata"]["uid"] for c in _get(control_plane, "pvc")["items"]
        }
        assert after == uids
    finally:
        control_plane.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
