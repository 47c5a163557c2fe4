"""The backup operator on a real control plane: the rendered `leapfrog.dev` CRDs install
and the API server rejects a bad spec with the CRD's own message; the operator itself
(`leapfrog.backup.kube_operator`, run by kopf's `KopfRunner` with exactly the handlers
the CLI runs) turns a BackupSchedule into a Backup on its cron time and the Backup into
a Job, and the Job's outcome into the Backup's phase and conditions.

No kubelet runs containers here: KWOK plays the nodes and finishes a Job's pod as
Succeeded (its `pod-complete` stage), so the Job controller completes the Job as it
would after a real run. A failure is a Job that cannot start (a ResourceQuota of zero
pods) and passes its deadline: the Job controller fails it (`DeadlineExceeded`).
What the engine does inside the pod is proven by the local backup tests; here the
Job's spec is asserted."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kopf.testing import KopfRunner

from leapfrog.backup.kube_operator import registry
from leapfrog.runtime.kubernetes import render_stack
from leapfrog.spec import load_stack
from leapfrog.testing import ControlPlane

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NAMESPACE = "bkop"
FAILING = "bkop-fail"  # a namespace where no pod may be created
IMAGE = "reg.example/leapfrog:test"
T = TypeVar("T")


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float = 90.0,
    seen: Callable[[], Any] = lambda: None,
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}: {seen()}"
        time.sleep(0.5)


def rendered(tmp_path: Path) -> list[dict[str, Any]]:
    stack = tmp_path / "leapfrog.yaml"
    data = {
        "name": "bk",
        "components": {
            "postgres": {"backups": {"schedule": "* * * * *", "keep_last": 2}},
            "backups": {"operator_interval": 1},
        },
        "kubernetes": {"namespace": NAMESPACE},
    }
    stack.write_text(yaml.safe_dump(data))
    return render_stack(load_stack(stack)).objects


@pytest.fixture(scope="module")
def plane(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> ControlPlane:
    objects = rendered(tmp_path_factory.mktemp("stack"))
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    assert len(crds) == 3
    # --force-conflicts: `leapfrog apply` of the example stack may have applied them first.
    control_plane.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump_all(crds)
    )
    names = [f"crd/{c['metadata']['name']}" for c in crds]

    def established() -> bool:
        done = control_plane.kubectl(
            "wait", "--for=condition=Established", "--timeout=10s", *names, check=False
        )
        return done.returncode == 0

    wait_for("the CRDs to be established", established, 60)
    for namespace in (NAMESPACE, FAILING):
        control_plane.kubectl("create", "namespace", namespace)
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-pods", "namespace": FAILING},
        "spec": {"hard": {"pods": "0"}},
    }
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(quota))
    # The operator's own ServiceAccount, Role and RoleBinding as rendered (in both
    # namespaces): the operator below runs with that account's token, not as admin.
    # The schedule's claim (the store's storage), bound by the hostPath provisioner: a
    # run's pod is scheduled only once its volume exists.
    (claim,) = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(claim))
    rbac = [o for o in objects if o["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    assert {o["metadata"]["name"] for o in rbac} == {"backup-operator"}
    for namespace in (NAMESPACE, FAILING):
        for obj in rbac:
            if obj["kind"] == "ServiceAccount" and namespace != NAMESPACE:
                continue
            placed = {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}
            control_plane.kubectl("apply", "-f", "-", input=json.dumps(placed))
    return control_plane


@pytest.fixture(scope="module")
def operator_kubeconfig(plane: ControlPlane) -> Path:
    """A kubeconfig holding a token of the operator's ServiceAccount."""
    token = plane.kubectl("create", "token", "backup-operator", "-n", NAMESPACE).stdout.strip()
    config = yaml.safe_load(plane.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": token}
    path = plane.workdir / "backup-operator.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def can(plane: ControlPlane, verb: str, what: str, namespace: str = NAMESPACE) -> bool:
    account = f"system:serviceaccount:{NAMESPACE}:backup-operator"
    done = plane.kubectl("auth", "can-i", verb, what, "-n", namespace, "--as", account,
                         check=False)  # fmt: skip
    return done.stdout.strip() == "yes"


def test_the_operator_may_do_what_it_needs_and_nothing_more(plane: ControlPlane) -> None:
    for verb, what in [
        ("create", "backups.leapfrog.dev"),
        ("watch", "backupschedules.leapfrog.dev"),
        ("patch", "backups.leapfrog.dev/status"),
        ("create", "jobs.batch"),
        ("watch", "jobs.batch"),
        ("create", "events"),
    ]:
        assert can(plane, verb, what), (verb, what)
    for verb, what, namespace in [
        ("get", "secrets", NAMESPACE),
        ("create", "pods", NAMESPACE),
        ("patch", "jobs.batch", NAMESPACE),
        ("create", "deployments.apps", NAMESPACE),
        ("update", "backupschedules.leapfrog.dev", NAMESPACE),
        ("list", "backups.leapfrog.dev", "default"),
        ("list", "namespaces", NAMESPACE),
        ("delete", "customresourcedefinitions.apiextensions.k8s.io", NAMESPACE),
    ]:
        assert not can(plane, verb, what, namespace), (verb, what, namespace)


def get(plane: ControlPlane, kind: str, name: str, namespace: str = NAMESPACE) -> Any:
    done = plane.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def items(plane: ControlPlane, kind: str, namespace: str = NAMESPACE) -> list[Any]:
    done = plane.kubectl("get", kind, "-n", namespace, "-o", "json")
    found: list[Any] = json.loads(done.stdout)["items"]
    return found


def in_phase(plane: ControlPlane, name: str, phase: str, namespace: str = NAMESPACE) -> Any:
    found = get(plane, "backup", name, namespace)
    return found if found and found.get("status", {}).get("phase") == phase else None


def schedule(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "leapfrog.dev/v1alpha1",
        "kind": "BackupSchedule",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "store": {"kind": "postgres", "service": "postgres", "ports": {"postgres": 5432}},
            "storage": {"pvc": {"claimName": "backups-postgres"}},
            **spec,
        },
    }


def test_a_bad_spec_is_rejected_by_the_api_server_saying_why(
    plane: ControlPlane, tmp_path: Path
) -> None:
    both = schedule("both", storage={"pvc": {"claimName": "x"}, "s3": {"bucket": "bkt"}})
    done = plane.kubectl("apply", "-f", "-", input=json.dumps(both), check=False)
    assert done.returncode != 0
    assert "storage takes exactly one of s3 (a bucket) and pvc (a claim)" in done.stderr
    cron = schedule("cron", schedule="0 3 * *")
    done = plane.kubectl("apply", "-f", "-", input=json.dumps(cron), check=False)
    assert done.returncode != 0 and "spec.schedule" in done.stderr
    store = schedule("store")
    store["spec"]["store"]["kind"] = "mysql"
    done = plane.kubectl("apply", "-f", "-", input=json.dumps(store), check=False)
    assert done.returncode != 0 and 'Unsupported value: "mysql"' in done.stderr
    retention = schedule("retention", retention={"keepLast": 0})
    done = plane.kubectl("apply", "-f", "-", input=json.dumps(retention), check=False)
    assert done.returncode != 0 and "spec.retention.keepLast" in done.stderr
    assert items(plane, "backupschedules") == []
    # the rendered schedule is accepted as it is, and shows its printer columns
    good = next(o for o in rendered(tmp_path) if o["kind"] == "BackupSchedule")
    plane.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=json.dumps(good))


@pytest.fixture
def operator(operator_kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The operator's handlers under kopf, with the rendered Role's rights only."""
    monkeypatch.setenv("KUBECONFIG", str(operator_kubeconfig))
    args = ["run", "--standalone", "--namespace", NAMESPACE, "--namespace", FAILING]
    with KopfRunner(args, registry=registry(1.0, IMAGE), timeout=60) as runner:
        yield
    assert runner.exception is None, runner.output


def test_a_schedule_makes_a_backup_on_its_time_and_the_job_decides_its_phase(
    plane: ControlPlane, operator: None
) -> None:
    plane.kubectl("apply", "-f", "-", input=json.dumps(schedule("pg", schedule="* * * * *")))
    # The first time is the first minute after the schedule was created (up to 60 s).
    backups = wait_for("the first Backup", lambda: items(plane, "backups"), 90)
    (backup,) = backups
    name = backup["metadata"]["name"]
    slot = backup["spec"]["slot"]
    assert name == "pg-" + slot[:16].replace("-", "").replace("T", "").replace(":", "")
    assert backup["metadata"]["labels"]["leapfrog.dev/schedule"] == "pg"
    job = wait_for("its Job", lambda: get(plane, "job", name))
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Backup", name, True)
    pod = job["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["command"][:4] == ["leapfrog", "backup", "run", "postgres"]
    assert pod["containers"][0]["image"] == IMAGE
    # KWOK finishes the pod; the Job controller completes the Job; the Backup follows.
    done = wait_for(
        "the Backup to succeed",
        lambda: in_phase(plane, name, "Succeeded"),
        seen=lambda: (get(plane, "backup", name), get(plane, "job", name), items(plane, "pods")),
    )
    status = done["status"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"Completed": "True", "Verified": "True"}
    assert status["startTime"] <= status["completionTime"]
    assert status["job"] == name

    def succeeded() -> Any:
        found = get(plane, "backupschedule", "pg")
        return found if found["status"].get("lastSuccessfulTime") else None

    sched = wait_for("the schedule's last success", succeeded)
    assert sched["status"]["lastBackup"] == name
    events = items(plane, "events")
    reasons = {e["reason"] for e in events if e["involvedObject"]["name"] == name}
    assert {"JobCreated", "Succeeded"} <= reasons
    # the schedule's events are its runs, not kopf's note of each look (every second here)
    on_schedule = [e for e in events if e["involvedObject"]["kind"] == "BackupSchedule"]
    assert [e["reason"] for e in on_schedule] == ["Scheduled"], on_schedule


def test_a_restarted_operator_neither_duplicates_the_run_nor_its_job(
    plane: ControlPlane, operator_kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs after the test above: its Backup and Job exist; a new operator looking at the
    same schedule in the same minute finds them."""
    monkeypatch.setenv("KUBECONFIG", str(operator_kubeconfig))
    before = {b["metadata"]["name"] for b in items(plane, "backups")}
    assert before, "run with the test above"
    args = ["run", "--standalone", "--namespace", NAMESPACE]
    with KopfRunner(args, registry=registry(1.0, IMAGE), timeout=60) as runner:
        time.sleep(5)
    assert runner.exception is None, runner.output
    backups = items(plane, "backups")
    slots = [b["spec"]["slot"] for b in backups]
    assert len(slots) == len(set(slots))
    # at most the run of a minute that began meanwhile besides the ones before
    assert len(backups) - len(before) <= 1
    for backup in backups:
        jobs = [
            j for j in items(plane, "jobs")
            if j["metadata"]["labels"].get("leapfrog.dev/backup") == backup["metadata"]["name"]
        ]  # fmt: skip
        assert len(jobs) <= 1
    for name in before:
        assert get(plane, "backup", name)["status"]["phase"] == "Succeeded"


def test_a_job_that_cannot_start_fails_its_backup_at_the_deadline(
    plane: ControlPlane, operator: None
) -> None:
    backup = {
        "apiVersion": "leapfrog.dev/v1alpha1",
        "kind": "Backup",
        "metadata": {"name": "stuck", "namespace": FAILING},
        "spec": {
            "store": {"kind": "zookeeper", "service": "zookeeper"},
            "storage": {"s3": {"bucket": "backups"}},
            "deadlineSeconds": 3,
        },
    }
    plane.kubectl("apply", "-f", "-", input=json.dumps(backup))
    failed = wait_for(
        "the Backup to fail",
        lambda: in_phase(plane, "stuck", "Failed", FAILING),
        seen=lambda: (get(plane, "backup", "stuck", FAILING), get(plane, "job", "stuck", FAILING)),
    )
    status = failed["status"]
    assert status["message"].startswith("DeadlineExceeded: "), status
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Completed"]["status"] == "False"
    assert conditions["Completed"]["reason"] == "DeadlineExceeded"
    assert conditions["Verified"]["status"] == "False"
    events = items(plane, "events", FAILING)
    warnings = [
        e for e in events
        if e["involvedObject"]["name"] == "stuck" and e["reason"] == "Failed"
    ]  # fmt: skip
    assert warnings and warnings[0]["type"] == "Warning"
    # a Backup's spec is a record: it cannot be edited
    edit = plane.kubectl(
        "patch", "backup", "stuck", "-n", FAILING, "--type=merge",
        "-p", '{"spec": {"deadlineSeconds": 60}}', check=False,
    )  # fmt: skip
    assert edit.returncode != 0 and "a Backup's spec cannot change" in edit.stderr
