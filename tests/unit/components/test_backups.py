"""The `backups` component (the scheduler): the runtime hands it the stack file and runs
it as the stack's owner (`acts_on_stack`), and it refuses to render for Kubernetes."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import leapfrog.components as registry
from leapfrog.components import component
from leapfrog.components.kube import KubeContext
from leapfrog.plan import build_plan
from leapfrog.runtime.local.launch import build_launches
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.spec import SpecError, parse_stack


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def components(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry._MODULES, "fakedb", "tests.unit.runtime._fake_component:FakeDb")
    registry.component.cache_clear()
    yield
    registry.component.cache_clear()


def test_the_scheduler_gets_the_stack_file_and_runs_as_the_owner(tmp_path: Path) -> None:
    text = "components:\n  backups: {port: 9700, deadline: 600}\n  fakedb: {}\n"
    stack = parse_stack(text, "leapfrog.yaml", tmp_path)
    paths = StatePaths(stack.state_dir)
    paths.create()
    launches = build_launches(stack, build_plan(stack), paths)
    (sched,) = launches["backups"]
    (db,) = launches["fakedb"]
    assert sched.env["LEAPFROG_STACK_FILE"] == str((tmp_path / "leapfrog.yaml").resolve())
    assert "LEAPFROG_STACK_FILE" not in db.env  # only for a component that acts on the stack
    assert sched.user is None
    argv = list(sched.argv)
    assert argv[:5] == [sys.executable, "-m", "leapfrog", "backup", "scheduler"]
    assert argv[argv.index("--listen") + 1] == f"{sched.address}:9700"
    assert argv[argv.index("--deadline") + 1] == "600"
    assert argv[argv.index("--data-dir") + 1] == str(paths.instance_data("backups-1"))


def test_a_schedule_that_is_no_cron_expression_is_refused_with_its_line(tmp_path: Path) -> None:
    text = "components:\n  zookeeper:\n    backups: {schedule: '0 25 * * *'}\n"
    with pytest.raises(SpecError) as caught:
        parse_stack(text, "leapfrog.yaml", tmp_path)
    (problem,) = caught.value.problems
    assert problem.line == 3
    assert "'0 25 * * *' is not a cron expression croniter accepts" in problem.message
    text = "components:\n  postgres:\n    backups: {schedule: 'daily', mode: dump}\n"
    with pytest.raises(SpecError) as caught:
        parse_stack(text, "leapfrog.yaml", tmp_path)
    messages = " ".join(p.message for p in caught.value.problems)
    assert "needs 5 fields" in messages and "physical" in messages


def test_on_kubernetes_it_is_the_backup_operator() -> None:
    comp = component("backups")
    options = comp.options({"operator_interval": 5})
    built = "localhost/leapfrog/leapfrog:0.1.0-0123456789ab"  # what `leapfrog image build` made
    kube = KubeContext(namespace="n", stack="s", leapfrog_image=built)
    rendered = comp.render_kubernetes(options, kube)
    kinds = [(o["kind"], o["metadata"]["name"]) for o in rendered.objects]
    assert kinds == [
        ("CustomResourceDefinition", "backupschedules.leapfrog.dev"),
        ("CustomResourceDefinition", "backups.leapfrog.dev"),
        ("CustomResourceDefinition", "restores.leapfrog.dev"),
        ("ServiceAccount", "backup-operator"),
        ("Role", "backup-operator"),
        ("RoleBinding", "backup-operator"),
        ("Deployment", "backup-operator"),
        ("Service", "backup-operator"),
        ("NetworkPolicy", "backup-operator-ingress"),
    ]
    deployment, service, policy = rendered.objects[-3:]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == [
        "leapfrog", "backup", "operator", "--namespace", "n", "--interval", "5",
        "--image", built, "--listen", "0.0.0.0:9612",
    ]  # fmt: skip
    # its metrics: the pod's port, a Service to it, the annotations, and the one port
    # the namespace's default-deny lets the stack's pods reach
    assert container["ports"] == [{"name": "metrics", "containerPort": 9612, "protocol": "TCP"}]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9612"
    assert service["spec"]["ports"][0]["targetPort"] == 9612
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert policy["spec"]["podSelector"]["matchLabels"] == service["spec"]["selector"]
    assert policy["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9612}]
    assert container["image"] == built  # its Jobs run the operator's own image
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # never two at once
    role = rendered.objects[4]
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert "secrets" not in resources
    # pods are only read (a run's termination message), never made or changed
    (pods,) = [rule for rule in role["rules"] if "pods" in rule["resources"]]
    assert (pods["resources"], pods["verbs"]) == (["pods"], ["get", "list", "watch"])
