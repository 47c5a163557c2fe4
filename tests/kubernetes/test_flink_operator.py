"""Flink under the Flink Kubernetes Operator on a real control plane: the operator's own
CRDs (tests/kubernetes/crds, vendored from its release 1.15.0) are installed, and
`leapfrog apply` of a stack that says the operator is installed creates a
`FlinkDeployment` and a `FlinkSessionJob` per PyFlink job that the API server validates
against the operator's schema: strictly (no field it does not know), and stored as
rendered (nothing pruned). Checkpoints go to a claim or to an S3 path. No operator runs
here, so nothing rolls out: what is proved is that the resources are what the operator
accepts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from leapfrog.testing import ControlPlane, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CRDS = Path(__file__).resolve().parent / "crds"
NAMESPACE = "flinkop"
SCRIPT = """
from pyflink.table import EnvironmentSettings, TableEnvironment

t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
t_env.execute_sql("CREATE TABLE numbers (n BIGINT) WITH ('connector' = 'datagen')")
t_env.execute_sql("CREATE TABLE sink (n BIGINT) WITH ('connector' = 'blackhole')")
t_env.execute_sql("INSERT INTO sink SELECT n FROM numbers")
"""


@pytest.fixture(scope="module")
def operator_crds(control_plane: ControlPlane) -> ControlPlane:
    for crd in sorted(CRDS.glob("*.yml")):
        # Server-side: the FlinkDeployment CRD is too large for client-side apply's
        # last-applied annotation.
        control_plane.kubectl("apply", "--server-side", "-f", str(crd))
    deadline = time.monotonic() + 60
    names = ["crd/flinkdeployments.flink.apache.org", "crd/flinksessionjobs.flink.apache.org"]
    while True:  # `kubectl wait` fails while a new CRD has no status conditions yet
        done = control_plane.kubectl(
            "wait", "--for=condition=Established", "--timeout=10s", *names, check=False
        )
        if done.returncode == 0:
            break
        assert time.monotonic() < deadline, done.stderr
        time.sleep(0.5)
    return control_plane


def write_stack(tmp_path: Path, flink: dict[str, Any], namespace: str = NAMESPACE) -> Path:
    (tmp_path / "counter.py").write_text(SCRIPT)
    stack = tmp_path / "leapfrog.yaml"
    data = {
        "name": "streams",
        "components": {"flink": flink},
        "services": {"web": {"command": "x", "image": "reg.example/web", "port": 8000}},
        "kubernetes": {"namespace": namespace},
    }
    stack.write_text(yaml.safe_dump(data))
    return stack


def rendered_flink(stack: Path, tmp_path: Path) -> list[dict[str, Any]]:
    result = run_cli("render", "-f", str(stack), cwd=tmp_path)
    assert result.code == 0, result.output
    return [
        o
        for o in yaml.safe_load_all(result.stdout)
        if o and o["kind"] in {"FlinkDeployment", "FlinkSessionJob"}
    ]


def strict_dry_run(plane: ControlPlane, objects: list[dict[str, Any]]) -> Any:
    return plane.kubectl(
        "apply", "--server-side", "--dry-run=server", "--validate=strict",
        "--field-manager=leapfrog-test", "-f", "-",
        input=yaml.safe_dump_all(objects), check=False,
    )  # fmt: skip


def test_operator_resources_apply_and_match_the_crd_schema(
    operator_crds: ControlPlane, tmp_path: Path
) -> None:
    plane = operator_crds
    stack = write_stack(
        tmp_path,
        {
            "taskmanagers": 2,
            "kubernetes": {"operator": True},
            "jobs": {
                "counter": {
                    "file": "counter.py",
                    "parallelism": 2,
                    "restart_strategy": "fixed-delay",
                }
            },
        },
    )
    result = run_cli(
        "apply", "--json", "-f", str(stack), "--kubeconfig", str(plane.kubeconfig),
        cwd=tmp_path, timeout=240,
    )  # fmt: skip
    assert result.code == 0, result.output
    changes = {(c["kind"], c["name"]) for c in json.loads(result.stdout)}
    for expected in [
        ("PersistentVolumeClaim", "flink-checkpoints"),
        ("ConfigMap", "flink-jobs"),
        ("FlinkDeployment", "flink"),
        ("FlinkSessionJob", "flink-counter"),
    ]:
        assert expected in changes, changes
    assert ("Deployment", "flink-jobmanager") not in changes  # not the standalone cluster

    rendered = {o["kind"]: o for o in rendered_flink(stack, tmp_path)}
    # Stored exactly as rendered: a field the schema does not know would be pruned.
    for kind, plural in [
        ("FlinkDeployment", "flinkdeployments"),
        ("FlinkSessionJob", "flinksessionjobs"),
    ]:
        name = rendered[kind]["metadata"]["name"]
        out = plane.kubectl(
            "get", "-n", NAMESPACE, f"{plural}.flink.apache.org", name, "-o", "json"
        )
        assert json.loads(out.stdout)["spec"] == rendered[kind]["spec"], kind
    strict = strict_dry_run(plane, list(rendered.values()))
    assert strict.returncode == 0, strict.stderr

    deployment = rendered["FlinkDeployment"]["spec"]
    assert deployment["flinkVersion"] == "v2_2"
    assert deployment["taskManager"]["replicas"] == 2
    assert deployment["flinkConfiguration"]["execution.checkpointing.dir"] == (
        "file:///flink-data/checkpoints"
    )
    job = rendered["FlinkSessionJob"]["spec"]
    assert job["deploymentName"] == "flink"
    assert job["job"]["args"] == ["-py", "/opt/flink/usrlib/leapfrog-jobs/counter.py"]
    assert job["job"]["upgradeMode"] == "savepoint"
    assert job["flinkConfiguration"]["restart-strategy.type"] == "fixed-delay"
    config = plane.kubectl("get", "-n", NAMESPACE, "configmap", "flink-jobs", "-o", "json")
    assert json.loads(config.stdout)["data"]["counter.py"] == SCRIPT
    claim = plane.kubectl("get", "-n", NAMESPACE, "pvc", "flink-checkpoints", "-o", "json")
    assert json.loads(claim.stdout)["spec"]["accessModes"] == ["ReadWriteMany"]

    web = plane.kubectl("get", "-n", NAMESPACE, "deployment", "web", "-o", "json")
    env = json.loads(web.stdout)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "FLINK_REST_URL", "value": f"http://flink-rest.{NAMESPACE}.svc:8081"} in env

    # The schema is really enforced: a version the operator does not know is refused.
    broken = json.loads(json.dumps(rendered["FlinkDeployment"]))
    broken["spec"]["flinkVersion"] = "v9_9"
    refused = strict_dry_run(plane, [broken])
    assert refused.returncode != 0 and "flinkVersion" in refused.stderr, refused.stderr
    broken["spec"]["flinkVersion"] = "v2_2"
    broken["spec"]["jobManager"]["replicaz"] = 1
    refused = strict_dry_run(plane, [broken])
    assert refused.returncode != 0 and "replicaz" in refused.stderr, refused.stderr


def test_checkpoints_to_s3_validate_and_need_no_claim(
    operator_crds: ControlPlane, tmp_path: Path
) -> None:
    stack = write_stack(
        tmp_path,
        {
            "kubernetes": {"operator": True, "checkpoints": "s3://state-bucket/flink"},
            "jobs": {"counter": {"file": "counter.py"}},
        },
        namespace="flinks3",
    )
    objects = rendered_flink(stack, tmp_path)
    for obj in objects:
        obj["metadata"]["namespace"] = "default"  # a dry run needs an existing namespace
    strict = strict_dry_run(operator_crds, objects)
    assert strict.returncode == 0, strict.stderr
    deployment = next(o for o in objects if o["kind"] == "FlinkDeployment")["spec"]
    settings = deployment["flinkConfiguration"]
    assert settings["execution.checkpointing.dir"] == "s3://state-bucket/flink/checkpoints"
    assert settings["execution.checkpointing.savepoint-dir"] == "s3://state-bucket/flink/savepoints"
    main = deployment["podTemplate"]["spec"]["containers"][0]
    assert {"name": "ENABLE_BUILT_IN_PLUGINS", "value": "flink-s3-fs-presto-2.2.1.jar"} in main[
        "env"
    ]
    result = run_cli("render", "-f", str(stack), cwd=tmp_path)
    assert "PersistentVolumeClaim" not in result.stdout


def test_a_sql_job_under_the_operator_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "clicks.sql").write_text("INSERT INTO t SELECT 1;\n")
    stack = write_stack(
        tmp_path,
        {"kubernetes": {"operator": True}, "jobs": {"clicks": {"file": "clicks.sql"}}},
    )
    result = run_cli("render", "-f", str(stack), cwd=tmp_path)
    assert result.code != 0
    assert "clicks" in result.output and "PyFlink script" in result.output, result.output
    assert "Traceback" not in result.output
