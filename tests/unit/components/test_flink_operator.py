"""The Flink Kubernetes Operator's resources against the operator's own CRD schemas
(tests/kubernetes/crds, vendored from its release 1.15.0), without a cluster:
JSON-schema valid, and no field the schema does not name (what the API server's strict
validation refuses; tests/kubernetes/test_flink_operator.py checks it there too)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from leapfrog.components import component
from leapfrog.components.base import NotSupported
from leapfrog.components.kube import KubeContext

CRDS = Path(__file__).resolve().parents[2] / "kubernetes" / "crds"


@functools.cache
def schema(kind: str) -> dict[str, Any]:
    for path in CRDS.glob("*.yml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
            found: dict[str, Any] = version["schema"]["openAPIV3Schema"]
            return found
    raise AssertionError(f"no CRD for {kind} in {CRDS}")


def unknown_fields(obj: Any, node: dict[str, Any], path: str = "") -> list[str]:
    """Fields of `obj` the structural schema `node` does not name."""
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found = []
    if isinstance(obj, dict) and node.get("type") == "object":
        properties = node.get("properties")
        extra = node.get("additionalProperties")
        for key, value in obj.items():
            if properties is not None and key in properties:
                found += unknown_fields(value, properties[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                found += unknown_fields(value, extra, f"{path}.{key}")
            elif properties is not None and path not in {"", ".metadata"}:
                found.append(f"{path}.{key}")
    elif isinstance(obj, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(obj):
            found += unknown_fields(item, node["items"], f"{path}[{index}]")
    return found


def render(options: dict[str, Any], tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    flink = component("flink")
    rendered = flink.render_kubernetes(flink.options(options), KubeContext("ns", "s"))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in rendered.objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    return by_kind


def check(obj: dict[str, Any]) -> None:
    node = schema(obj["kind"])
    jsonschema.Draft7Validator(node).validate(obj)
    assert unknown_fields(obj, node) == [], obj["kind"]


def test_the_operators_resources_match_its_crds(tmp_path: Path) -> None:
    script = tmp_path / "count.py"
    script.write_text("print('count')\n")
    objects = render(
        {
            "taskmanagers": 2,
            "kubernetes": {"operator": True},
            "jobs": {"count": {"file": str(script), "parallelism": 2}},
        },
        tmp_path,
    )
    (deployment,) = objects["FlinkDeployment"]
    (job,) = objects["FlinkSessionJob"]
    check(deployment)
    check(job)
    assert deployment["spec"]["flinkVersion"] == "v2_2"
    assert job["spec"]["job"]["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    (claim,) = objects["PersistentVolumeClaim"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    (config,) = objects["ConfigMap"]
    assert config["data"] == {"count.py": "print('count')\n"}
    # A changed script is a new restartNonce: the operator upgrades through a savepoint.
    script.write_text("print('count twice')\n")
    (changed,) = render(
        {"kubernetes": {"operator": True}, "jobs": {"count": {"file": str(script)}}}, tmp_path
    )["FlinkSessionJob"]
    assert changed["spec"]["restartNonce"] != job["spec"]["restartNonce"]


def test_the_check_sees_a_field_the_operator_does_not_know(tmp_path: Path) -> None:
    (deployment,) = render({"kubernetes": {"operator": True}}, tmp_path)["FlinkDeployment"]
    deployment["spec"]["jobManager"]["replicaz"] = 1
    assert unknown_fields(deployment, schema("FlinkDeployment")) == [".spec.jobManager.replicaz"]
    deployment["spec"]["flinkVersion"] = "v9_9"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema("FlinkDeployment")).validate(deployment)


def test_s3_checkpoints_under_the_operator(tmp_path: Path) -> None:
    objects = render(
        {"kubernetes": {"operator": True, "checkpoints": "s3://bucket/flink/"}}, tmp_path
    )
    assert "PersistentVolumeClaim" not in objects
    (deployment,) = objects["FlinkDeployment"]
    check(deployment)
    settings = deployment["spec"]["flinkConfiguration"]
    assert settings["execution.checkpointing.dir"] == "s3://bucket/flink/checkpoints"


def test_sql_jobs_are_refused_under_the_operator(tmp_path: Path) -> None:
    with pytest.raises(NotSupported, match=r"SQL jobs .*\(clicks\).*PyFlink script"):
        render({"kubernetes": {"operator": True}, "jobs": {"clicks": {"file": "c.sql"}}}, tmp_path)
    with pytest.raises(NotSupported, match="service_stats"):
        render({"kubernetes": {"operator": True}, "service_stats": {}}, tmp_path)
