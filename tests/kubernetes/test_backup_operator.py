"""The backup operator on a real control plane: the rendered `leapfrog.dev` CRDs install
and the API server rejects a bad spec with the CRD's own message; the operator itself
(`leapfrog.backup.kube_operator`, run by kopf's `KopfRunner` with exactly the handlers
the CLI runs) turns a BackupSchedule into a Backup on its cron time and the Backup into
a Job, and the Job's outcome into the Backup's phase and conditions.

No kubelet runs containers here: KWOK plays the nodes and finishes a Job's pod as
Succeeded (its `pod-complete` stage), so the Job controller completes the Job as it
would after a real run. A failure is a Job that cannot start (a ResourceQuota of zero
pods) and passes its deadline: the Job controller fails it (`DeadlineExceeded`).
What the engine does inside the pod is proven at the end of this module: the Jobs'
commands run against real local stores (see "The Jobs run the engine for real").
test_real_node_backup_job.py runs a ZooKeeper Backup's Job for real, on the real node."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from kazoo.client import KazooClient
from kopf.testing import KopfRunner
from psycopg import sql

from leapfrog.backup._zk_tree import server_tree
from leapfrog.backup.kube_operator import registry
from leapfrog.components._postgres_secrets import password
from leapfrog.components.kube import container_security, restricted_pod
from leapfrog.components.zookeeper import DATA
from leapfrog.runtime.kubernetes import render_stack
from leapfrog.shared.cache import cache_dir
from leapfrog.shared.users import UnixUser, ensure_user
from leapfrog.spec import load_stack
from leapfrog.testing import ControlPlane, RunningComponent, free_port, scratch_dir
from tests.integration.backup.conftest import own_component
from tests.kubernetes.conftest import wait_for
from tests.s3_server import S3_ACCESS, S3_BUCKET, S3_SECRET, S3Server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

NAMESPACE = "bkop"
FAILING = "bkop-fail"  # a namespace where no pod may be created
IMAGE = "reg.example/leapfrog:test"


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
        ("watch", "pods"),  # a run's termination message: what it took
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


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The operator's /metrics, parsed by prometheus_client's own text parser."""
    from prometheus_client.parser import text_string_to_metric_families

    page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).raise_for_status().text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
    }


def test_the_metrics_count_the_runs_and_are_right_after_a_restart(
    plane: ControlPlane, operator_kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Backup that succeeds (KWOK finishes its pod) and one that fails (no pod may
    start in FAILING: its deadline passes), both of schedule `mx`; the operator's
    /metrics say so, and a new operator (a restart) says the same from the objects."""
    monkeypatch.setenv("KUBECONFIG", str(operator_kubeconfig))
    labels = (("schedule", "mx"), ("store", "metricsdb"))
    store = {"kind": "influxdb", "service": "metricsdb"}
    storage = {"pvc": {"claimName": "backups-postgres"}}
    good = a_backup("mgood", store, storage=storage, schedule="mx")
    bad = a_backup("mbad", store, storage=storage, schedule="mx", deadlineSeconds=8)
    bad["metadata"]["namespace"] = FAILING

    def up() -> bool:
        try:
            return bool(scrape(port) is not None)
        except httpx.HTTPError:
            return False

    args = ["run", "--standalone", "--namespace", NAMESPACE, "--namespace", FAILING]
    port = free_port("127.0.0.1")
    with KopfRunner(args, registry=registry(1.0, IMAGE, ("127.0.0.1", port)), timeout=60) as run:
        wait_for("the metrics page", up, 30)
        apply(plane, good)
        apply(plane, bad)
        # the one that cannot start is a running backup until its deadline
        wait_for("a running backup", lambda: scrape(port).get(("leapfrog_backup_running",
                 labels)) == 1.0, 30, seen=lambda: scrape(port))  # fmt: skip
        succeeded = wait_for("mgood to succeed", lambda: in_phase(plane, "mgood", "Succeeded"))
        wait_for("mbad to fail", lambda: in_phase(plane, "mbad", "Failed", FAILING))
        end = datetime.fromisoformat(succeeded["status"]["completionTime"].replace("Z", "+00:00"))

        def counted() -> Any:
            found = scrape(port)
            return found if found.get(("leapfrog_backup_failures_total", labels)) else None

        first = wait_for("the failure to be counted", counted, 30, seen=lambda: scrape(port))
    assert run.exception is None, run.output
    assert first["leapfrog_backup_last_success_timestamp_seconds", labels] == end.timestamp()
    assert first["leapfrog_backup_failures_total", labels] == 1.0
    for phase, count in {"Pending": 0, "Running": 0, "Succeeded": 1, "Failed": 1}.items():
        assert first["leapfrog_backup_runs", (("phase", phase), *labels)] == count, phase
    assert first["leapfrog_backup_running", labels] == 0.0
    assert first["leapfrog_backup_recoverable_points", labels] == 1.0
    assert first["leapfrog_backup_recoverable_to_timestamp_seconds", labels] == end.timestamp()
    assert first["leapfrog_backup_recoverability_window_seconds", labels] == 0.0
    # the page is gone with the operator, and a restarted one recomputes the same
    with pytest.raises(httpx.HTTPError):
        scrape(port)
    with KopfRunner(args, registry=registry(1.0, IMAGE, ("127.0.0.1", port)), timeout=60) as run:
        again = wait_for(
            "the figures after a restart",
            lambda: (found := scrape(port)).get(("leapfrog_backup_runs",
                     (("phase", "Failed"), *labels))) and found,
        )  # fmt: skip
    assert run.exception is None, run.output
    ours = {key: value for key, value in again.items() if key[1][-2:] == labels}
    assert ours == {key: value for key, value in first.items() if key[1][-2:] == labels}


def leapfrog_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`leapfrog ARGS` in this process: (exit code, stdout, stderr)."""
    from leapfrog.cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_runs_lists_and_restores_through_the_objects(
    plane: ControlPlane, operator: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """`leapfrog backup run|list|restore --target kubernetes` as a user with the admin's
    kubeconfig, while the operator runs: a Backup of the store's schedule followed to
    Succeeded (KWOK finishes its Job's pod), listed, and a Restore of it followed too."""
    on_demand = schedule("clistore", verify=True)
    on_demand["spec"]["store"] = {"kind": "kafka", "service": "clistore"}
    apply(plane, on_demand)
    cluster = ["--kubeconfig", str(plane.kubeconfig), "-n", NAMESPACE]
    code, out, err = leapfrog_cli(capsys, "backup", "run", "clistore", *cluster, "--json")
    assert code == 0, (out, err)
    ran = json.loads(out)
    assert (ran["state"], ran["phase"], ran["verified"]) == ("succeeded", "Succeeded", "succeeded")
    name = ran["name"]
    made = get(plane, "backup", name)
    assert made["spec"]["schedule"] == "clistore" and "slot" not in made["spec"]
    assert made["metadata"]["labels"]["leapfrog.dev/schedule"] == "clistore"

    code, out, err = leapfrog_cli(capsys, "backup", "list", "clistore", *cluster, "--json")
    assert code == 0, err
    (listed,) = json.loads(out)["backups"]
    assert (listed["name"], listed["id"], listed["phase"]) == (name, made["status"]["backupId"],
                                                               "Succeeded")  # fmt: skip
    assert listed["ended"] == made["status"]["completionTime"]

    code, out, err = leapfrog_cli(capsys, "backup", "restore", name, *cluster, "--yes")
    assert code == 0, (out, err)
    assert f"restore {name} of clistore: succeeded" in out
    (restore,) = [r for r in items(plane, "restores") if r["spec"]["backup"] == name]
    assert restore["status"]["phase"] == "Succeeded"

    code, _, err = leapfrog_cli(capsys, "backup", "run", "nosuch", *cluster)
    assert code == 1 and "no BackupSchedule backs up nosuch in namespace bkop" in err
    code, _, err = leapfrog_cli(capsys, "backup", "restore", "--backup", "nosuch", *cluster)
    assert code == 1 and "there is no Backup nosuch in namespace bkop" in err
    unreachable = yaml.safe_load(plane.kubeconfig.read_text())
    unreachable["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    path = plane.workdir / "unreachable.kubeconfig"
    path.write_text(yaml.safe_dump(unreachable))
    code, _, err = leapfrog_cli(capsys, "backup", "list", "--kubeconfig", str(path), "-n", "x")
    assert code == 1 and "cannot reach the cluster to list the Backups" in err
    assert "Traceback" not in err


# -- The Jobs run the engine for real ------------------------------------------------
# The operator's Jobs run the engine for real, with no stack file: each test takes a
# Job's command and environment exactly as the operator wrote them into the control
# plane (Secrets read from it, as the kubelet would), puts the Job's volumes where a pod
# mounts them (a folder each) and the store's Service address to a real local store's,
# and runs every step (backup, verify, prune; restore) as a process of its own, as the
# pod's non-root user. No node runs containers here (KWOK): this is the run a pod makes.
#
# PostgreSQL: backed up logically through its superuser's password (a Secret) into S3
# (versitygw, credentials from Secrets), encrypted with a key from a Secret, verified,
# pruned; then a Restore object's Job puts the deleted rows back. Kafka: into the
# schedule's volume claim, verified in a scratch broker; restores of a chosen topic and
# of everything. ZooKeeper and OpenSearch: on the server's own claim. InfluxDB: through
# its RPC port (`--port rpc=`), a chosen database restored, then everything.

PG_ADDRESS = "127.0.0.66"  # the integration tier's session PostgreSQL keeps .57
KAFKA_ADDRESS = "127.0.0.67"
ZK_ADDRESS = "127.0.0.69"  # on ZooKeeper's own ports, as its Service has them
OS_ADDRESS = "127.0.0.70"
ROWS = 500
TOPIC = "kb-orders"
RECORDS = 200


@pytest.fixture(scope="module")
def app_user() -> UnixUser:
    """The pod's user is not root: neither are the runs here (initdb refuses root)."""
    return ensure_user("leapfrog")


@pytest.fixture(scope="module")
def pg() -> Iterator[RunningComponent]:
    with own_component("postgres", {"databases": {"shop": {}}}, PG_ADDRESS) as running:
        yield running


@pytest.fixture(scope="module")
def kafka() -> Iterator[RunningComponent]:
    options = {"port": free_port(KAFKA_ADDRESS), "controller_port": free_port(KAFKA_ADDRESS)}
    with own_component("kafka", options, KAFKA_ADDRESS) as running:
        yield running


@pytest.fixture(scope="module")
def opensearch() -> Iterator[RunningComponent]:
    options = {"port": free_port(OS_ADDRESS), "transport_port": free_port(OS_ADDRESS),
               "heap": "384m"}  # fmt: skip
    with own_component("opensearch", options, OS_ADDRESS) as running:
        yield running


@pytest.fixture(scope="module")
def zookeeper() -> Iterator[RunningComponent]:
    options = {"port": 2181, "admin_port": 8080, "snapshot_interval_ms": 0}
    with own_component("zookeeper", options, ZK_ADDRESS) as running:
        yield running


def put_secret(plane: ControlPlane, name: str, data: dict[str, str]) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "stringData": data,
    }
    plane.kubectl("apply", "-f", "-", input=json.dumps(secret))


def apply(plane: ControlPlane, obj: dict[str, Any]) -> None:
    plane.kubectl("apply", "-f", "-", input=json.dumps(obj))


def env_of(plane: ControlPlane, container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet makes it: values, and Secrets' keys."""
    env = {}
    for entry in container["env"]:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        secret = get(plane, "secret", ref["name"])
        env[entry["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
    return env


def run_steps(  # noqa: PLR0917
    plane: ControlPlane,
    job: dict[str, Any],
    service: str,
    local: str,
    user: UnixUser,
    said: dict[str, str] | None = None,
    *,
    folders: dict[str, Path] | None = None,
    paths: dict[str, Path] | None = None,
    check: bool = True,
) -> list[dict[str, Any]]:
    """Every container of the Job's pod in order, as processes: the Service's address
    swapped for `local`, each volume a folder of its own (owned by the pod's user; or
    the one `folders` gives by volume name, with its parent where the mount's parent
    is), `paths` other paths of the pod that are folders here (where the store's server
    has its data), and its termination message a file (read into `said`, by container,
    as the kubelet does). Returns each step's JSON record; a step that fails fails the test
    (with `check`; else its record says so, and the steps after it do not run)."""
    pod = job["spec"]["template"]["spec"]
    given = folders or {}
    with scratch_dir("lf-kb-pod-") as work:
        mounts = {path: str(folder) for path, folder in (paths or {}).items()}
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            for mount in container["volumeMounts"]:
                if mount["name"] in given:
                    folder = given[mount["name"]]
                    parent = str(Path(mount["mountPath"]).parent)
                    if parent != "/":
                        mounts[parent] = str(folder.parent)
                else:
                    folder = work / mount["name"]
                    folder.mkdir(exist_ok=True)
                    os.chown(folder, user.uid, user.gid)
                mounts[mount["mountPath"]] = str(folder)
        messages = work / "termination"
        messages.mkdir()
        os.chown(messages, user.uid, user.gid)

        def placed(text: str) -> str:
            text = text.replace(service, local)
            for path in sorted(mounts, key=len, reverse=True):
                if text == path or text.startswith(path + "/"):
                    return mounts[path] + text[len(path) :]
            return text

        records = []
        leapfrog = str(Path(sys.executable).parent / "leapfrog")
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            log = messages / container["name"]
            mounts[container.get("terminationMessagePath", "/dev/termination-log")] = str(log)
            command = [placed(arg) for arg in container["command"]]
            assert command[0] == "leapfrog"
            env = {name: placed(value) for name, value in env_of(plane, container).items()}
            env |= {"PATH": os.environ["PATH"], "LEAPFROG_CACHE": str(cache_dir())}
            done = subprocess.run(
                [leapfrog, *command[1:]],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                user=user.uid,
                group=user.gid,
                extra_groups=[],
                check=False,
            )
            # no secret ever reaches the output
            for name in ("PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "LEAPFROG_BACKUP_KEY"):
                if name in env:
                    assert env[name] not in done.stdout + done.stderr
            if not check and done.returncode != 0:
                records.append(json.loads(done.stdout or "{}") | {"stderr": done.stderr})
                return records
            assert done.returncode == 0, (container["name"], done.stdout, done.stderr)
            record = json.loads(done.stdout)
            assert record["state"] == "succeeded", record
            records.append(record)
            if said is not None and log.exists():
                said[container["name"]] = log.read_text()
            mounts.pop(container.get("terminationMessagePath", "/dev/termination-log"))
        return records


def kubelet_says(plane: ControlPlane, job: str, said: dict[str, str]) -> None:
    """What the kubelet would write into the Job's pod once it ended: each container's
    termination message (`said`, from `run_steps`). KWOK plays the node and finishes the
    pod as Succeeded; its status then gets the messages the real run wrote."""

    def finished() -> Any:
        pods = [p for p in items(plane, "pods") if p["metadata"]["labels"].get("job-name") == job]
        return next((p for p in pods if p.get("status", {}).get("phase") == "Succeeded"), None)

    pod = wait_for(f"the pod of {job} to finish", finished, seen=lambda: items(plane, "pods"))
    spec, status = pod["spec"], pod["status"]
    patch: dict[str, Any] = {}
    for field, containers in (
        ("initContainerStatuses", spec.get("initContainers", [])),
        ("containerStatuses", spec["containers"]),
    ):
        known = {s["name"]: s for s in status.get(field, [])}
        entries = []
        for container in containers:
            entry = known.get(container["name"]) or {
                "name": container["name"], "image": container["image"], "imageID": "",
                "ready": False, "restartCount": 0,
            }  # fmt: skip
            ended = {"exitCode": 0, "reason": "Completed"}
            if container["name"] in said:
                ended["message"] = said[container["name"]]
            entries.append({**entry, "state": {"terminated": ended}})
        if entries:
            patch[field] = entries
    plane.kubectl(
        "patch", "pod", pod["metadata"]["name"], "-n", NAMESPACE, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": patch}),
    )  # fmt: skip


def a_backup(name: str, store: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "leapfrog.dev/v1alpha1",
        "kind": "Backup",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"store": store, **spec},
    }


def restore_chosen(
    plane: ControlPlane, capsys: pytest.CaptureFixture[str], backup: str, flag: str, chosen: str
) -> tuple[str, dict[str, Any]]:
    """`backup restore BACKUP --FLAG CHOSEN` through the objects: (what it said it
    replaces, on one line; the Job of the Restore it made, which chooses that)."""
    cluster = ["--kubeconfig", str(plane.kubeconfig), "-n", NAMESPACE]
    code, out, err = leapfrog_cli(
        capsys, "backup", "restore", backup, f"--{flag}", chosen, *cluster, "--yes", "--no-wait"
    )
    assert code == 0, (out, err)
    (restore,) = [r for r in items(plane, "restores") if r["spec"]["backup"] == backup]
    assert restore["spec"]["chosen"] == [chosen]
    name = restore["metadata"]["name"]
    return " ".join(err.split()), wait_for("the restore Job", lambda: get(plane, "job", name))


def backup_job(plane: ControlPlane, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the Job, the Backup) once the operator made the Job and named the backup."""
    job = wait_for(f"the Job of {name}", lambda: get(plane, "job", name))
    backup = wait_for(
        f"{name}'s backup id",
        lambda: (b := get(plane, "backup", name)) and b.get("status", {}).get("backupId") and b,
    )
    return job, backup


def test_a_postgres_backup_job_runs_verifies_prunes_and_a_restore_puts_it_back(
    plane: ControlPlane,
    operator: None,
    pg: RunningComponent,
    s3_server: S3Server,
    app_user: UnixUser,
) -> None:
    superuser = password(pg.where, "postgres")
    with psycopg.connect(host=PG_ADDRESS, port=pg.where.port, user="postgres",
                         password=superuser, dbname="shop", autocommit=True) as conn:  # fmt: skip
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, note text)")
        conn.execute(f"INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, {ROWS}) g")
    put_secret(plane, "postgres-credentials", {"postgres": superuser})
    put_secret(plane, "pg-key", {"value": secrets.token_urlsafe(32)})
    put_secret(plane, "s3-access", {"value": S3_ACCESS})
    put_secret(plane, "s3-secret", {"value": S3_SECRET})
    store = {
        "kind": "postgres",
        "service": "postgres",
        "ports": {"postgres": 5432},
        "credentials": {"name": "postgres-credentials", "key": "postgres"},
    }
    storage = {
        "s3": {
            "bucket": S3_BUCKET,
            "prefix": "kube",
            "endpoint": s3_server.endpoint,
            "accessKey": {"name": "s3-access"},
            "secretKey": {"name": "s3-secret"},
        }
    }
    spec = {"storage": storage, "encryption": {"name": "pg-key"}, "retention": {"keepLast": 2}}
    apply(plane, a_backup("pgrun", store, **spec))
    job, backup = backup_job(plane, "pgrun")
    backup_id = backup["status"]["backupId"]
    service = "postgres.bkop.svc:5432"
    taken, verified, pruned = run_steps(
        plane, job, service, f"{PG_ADDRESS}:{pg.where.port}", app_user
    )
    assert (taken["action"], taken["backup"], taken["mode"]) == ("backup", backup_id, "logical")
    assert verified["action"] == "verify" and verified["backup"] == backup_id
    assert "match the manifest" in verified["reason"]
    assert pruned["action"] == "prune" and backup_id in pruned["details"]["kept"]
    # the objects are in the bucket, sealed, where the Backup's status says
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=S3_BUCKET, Prefix="kube/")
            .get("Contents", [])]  # fmt: skip
    assert f"kube/{backup['status']['manifest']}" in keys
    dump = next((k for k in keys if "/shop.dump" in k), None)
    assert dump is not None, keys
    sealed = s3_server.client().get_object(Bucket=S3_BUCKET, Key=dump)["Body"].read()
    assert sealed.startswith(b"LFE1")

    # rows lost; a Restore of the Backup (Succeeded: KWOK finished its pod) runs its Job
    with psycopg.connect(host=PG_ADDRESS, port=pg.where.port, user="postgres",
                         password=superuser, dbname="shop", autocommit=True) as conn:  # fmt: skip
        conn.execute("DELETE FROM orders WHERE id > 100")
    wait_for("the Backup to succeed", lambda: get(plane, "backup", "pgrun")["status"].get(
        "phase") == "Succeeded")  # fmt: skip
    restore = {
        "apiVersion": "leapfrog.dev/v1alpha1",
        "kind": "Restore",
        "metadata": {"name": "pgback", "namespace": NAMESPACE},
        "spec": {"backup": "pgrun"},
    }
    apply(plane, restore)
    restore_job = wait_for("the restore Job", lambda: get(plane, "job", "pgback"))
    (owner,) = restore_job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("Restore", "pgback")
    (restored,) = run_steps(plane, restore_job, service, f"{PG_ADDRESS}:{pg.where.port}", app_user)
    assert restored["action"] == "restore" and restored["backup"] == backup_id
    with psycopg.connect(host=PG_ADDRESS, port=pg.where.port, user="postgres",
                         password=superuser, dbname="shop") as conn:  # fmt: skip
        row = conn.execute("SELECT count(*) FROM orders").fetchone()
    assert row is not None and row[0] == ROWS


PITR_ADDRESS = "127.0.0.78"  # a PostgreSQL of this test's own: it is stopped and restored


@pytest.fixture
def pitr_pg() -> Iterator[RunningComponent]:
    with own_component("postgres", {"databases": {"shop": {}}}, PITR_ADDRESS) as running:
        yield running


def get_running(plane: ControlPlane, pod: str) -> Any:
    found = get(plane, "pod", pod)
    return found if found and found.get("status", {}).get("phase") == "Running" else None


def pitr_connect(pg: RunningComponent, dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(host=PITR_ADDRESS, port=pg.where.port, user="postgres",
                           password=password(pg.where, "postgres"), dbname=dbname,
                           autocommit=True)  # fmt: skip


def as_rendered(pg: RunningComponent, claim: Path, work: Path, objects: list[Any]) -> None:
    """Archive the WAL of `pg` as the rendered postgres StatefulSet says: its `-c`
    archive settings, its archive_command the script of its ConfigMap, each of the
    pod's mounts a folder here (the backup claim `claim`, the data claim the server's
    data directory); then restart it, as a changed pod would be."""
    sts = next(
        o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "postgres"
    )
    pod = sts["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    configs = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    mounts: dict[str, str] = {}
    for mount in server["volumeMounts"]:
        volume = volumes.get(mount["name"], {})
        if "configMap" in volume:  # its files, written here
            folder = work / mount["name"]
            folder.mkdir()
            for name, text in configs[volume["configMap"]["name"]]["data"].items():
                (folder / name).write_text(text)
            mounts[mount["mountPath"]] = str(folder)
        elif volume.get("persistentVolumeClaim", {}).get("claimName") == "backups-postgres":
            mounts[mount["mountPath"]] = str(claim)
        elif mount["name"] == "data":  # the volume claim template: the server's data
            mounts[mount["mountPath"]] = str(pg.where.data_dir)

    def placed(text: str) -> str:
        for path in sorted(mounts, key=len, reverse=True):
            text = text.replace(path, mounts[path])
        return text

    for folder in work.iterdir():
        for script in folder.iterdir():
            script.write_text(placed(script.read_text()))
    os.chmod(work, 0o755)
    settings = dict(a[2:].split("=", 1) for a in server["args"] if a.startswith("-c"))
    assert settings["archive_mode"] == "on"  # physical: the server archives its WAL
    with pitr_connect(pg) as conn:
        for name in ("archive_mode", "archive_command", "archive_timeout", "wal_level"):
            value = sql.Literal(placed(settings[name]))
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), value))
    pg.stop()
    pg.start()
    admit_replication(pg, Path(placed(settings["hba_file"])))


def admit_replication(pg: RunningComponent, rendered_hba: Path) -> None:
    """The rendered rules' network replication rule (the backup Job's pg_basebackup
    connects so) added to the local server's own, which it rewrites on each start."""
    rules = [
        line for line in rendered_hba.read_text().splitlines()
        if line.startswith("host") and " replication " in line and "trust" not in line
    ]  # fmt: skip
    assert rules == ["host  replication  postgres  all  scram-sha-256"]
    hba = pg.where.data_dir / "conf" / "pg_hba.conf"
    hba.write_text(hba.read_text() + "\n".join(rules) + "\n")
    with pitr_connect(pg) as conn:
        conn.execute("SELECT pg_reload_conf()")


def archived_now(pg: RunningComponent, claim: Path) -> None:
    """Until the segment holding every change so far is in the archive."""
    with pitr_connect(pg) as conn:
        row = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()
        conn.execute("SELECT pg_switch_wal()")
    assert row is not None
    wait_for(f"WAL {row[0]} in the archive", (claim / "postgres" / "wal" / row[0]).exists)


def orders(pg: RunningComponent, statement: str = "SELECT id FROM orders ORDER BY id") -> Any:
    with pitr_connect(pg, "shop") as conn:
        cursor = conn.execute(statement)
        return [r[0] for r in cursor.fetchall()] if cursor.description else None


@pytest.mark.usefixtures("operator")
def test_a_physical_postgres_backup_job_and_a_point_in_time_restore_through_the_objects(
    plane: ControlPlane,
    pitr_pg: RunningComponent,
    app_user: UnixUser,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The rendered StatefulSet archives WAL into the schedule's claim (its own script,
    run by a real server); a Backup of the rendered schedule takes a physical backup
    (pg_basebackup) and verifies it; `backup restore --to T` makes a Restore with
    pointInTime whose Job refuses while the server runs and, once it is stopped, puts
    back exactly the rows committed before T."""
    from leapfrog.backup._kube_runs import backup_on_demand

    objects = rendered(tmp_path)
    (schedule_obj,) = [o for o in objects if o["kind"] == "BackupSchedule"]
    store = schedule_obj["spec"]["store"]
    assert store["mode"] == "physical" and store["data"]["claimName"] == "data-postgres-0"
    schedule_obj["spec"].pop("schedule")  # runs on demand here, not every minute
    apply(plane, schedule_obj)
    # The server's pod (KWOK plays it): its runs are placed beside it, on its node.
    for obj in objects:
        if obj["kind"] in ("ConfigMap", "StatefulSet") and obj["metadata"]["name"].startswith(
            "postgres"
        ):
            apply(plane, obj)
    wait_for("the server's pod", lambda: get_running(plane, "postgres-0"))
    put_secret(plane, "postgres-credentials", {"postgres": password(pitr_pg.where, "postgres")})
    service, local = "postgres.bkop.svc:5432", f"{PITR_ADDRESS}:{pitr_pg.where.port}"
    with scratch_dir("lf-kb-claim-") as claim, scratch_dir("lf-kb-pgpod-") as work:
        os.chown(claim, app_user.uid, app_user.gid)
        as_rendered(pitr_pg, claim, work, objects)
        orders(pitr_pg, "CREATE TABLE orders (id int PRIMARY KEY, note text)")
        orders(pitr_pg, "INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 100) g")

        run = backup_on_demand(schedule_obj, datetime.now(UTC))
        name = run["metadata"]["name"]
        apply(plane, run)
        job, backup = backup_job(plane, name)
        pod = job["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == store["data"]["runAsUser"]  # the server's
        said: dict[str, str] = {}
        taken, verified, _pruned = run_steps(
            plane, job, service, local, app_user, said, folders={"storage": claim}
        )
        assert (taken["backup"], taken["mode"]) == (backup["status"]["backupId"], "physical")
        assert "match the manifest" in verified["reason"], verified
        kubelet_says(plane, name, said)
        done = wait_for("the Backup to succeed", lambda: in_phase(plane, name, "Succeeded"))
        assert done["status"]["position"].startswith("LSN "), done["status"]

        # rows before T, then rows after it; the WAL of both archived
        orders(pitr_pg, "INSERT INTO orders SELECT g, 'before' FROM generate_series(101, 200) g")
        point = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        while datetime.now(UTC) < point + timedelta(seconds=1):
            time.sleep(0.1)
        orders(pitr_pg, "INSERT INTO orders SELECT g, 'after' FROM generate_series(201, 300) g")
        archived_now(pitr_pg, claim)

        def continuous() -> Any:
            found = get(plane, "backupschedule", "postgres").get("status") or {}
            return found if found.get("recoverableContinuous") else None

        window = wait_for("the schedule's window", continuous)
        assert window["recoverablePoints"] == 1
        assert window["recoverableFrom"] == done["status"]["completionTime"]

        stamp = point.strftime("%Y-%m-%dT%H:%M:%SZ")
        cluster = ["--kubeconfig", str(plane.kubeconfig), "-n", NAMESPACE]
        code, out, err = leapfrog_cli(
            capsys, "backup", "restore", name, "--to", stamp, *cluster, "--yes", "--no-wait"
        )
        assert code == 0, (out, err)
        said_first = " ".join(err.split())
        assert f"recovered to {point:%Y-%m-%d %H:%M:%S} UTC from the WAL archive" in said_first
        assert "kubectl scale statefulset postgres --replicas=0" in said_first
        (restore,) = [r for r in items(plane, "restores") if r["spec"]["backup"] == name]
        assert restore["spec"]["pointInTime"] == stamp
        restore_name = restore["metadata"]["name"]
        restore_job = wait_for("the restore Job", lambda: get(plane, "job", restore_name))
        argv = restore_job["spec"]["template"]["spec"]["containers"][0]["command"]
        assert argv[argv.index("--to") + 1] == stamp
        data = {"store-data": pitr_pg.where.data_dir, "storage": claim}
        (refused,) = run_steps(
            plane, restore_job, service, local, app_user, folders=data, check=False
        )
        assert refused["state"] == "failed" and "postgres is running" in refused["reason"]
        assert len(orders(pitr_pg)) == 300  # left alone
        pitr_pg.stop()  # as `kubectl scale statefulset postgres --replicas=0` says
        plane.kubectl("scale", "statefulset", "postgres", "--replicas=0", "-n", NAMESPACE)
        try:
            (restored,) = run_steps(plane, restore_job, service, local, app_user, folders=data)
        finally:
            pitr_pg.start()
            plane.kubectl("scale", "statefulset", "postgres", "--replicas=1", "-n", NAMESPACE)
        assert restored["backup"] == backup["status"]["backupId"]
        assert f"to {point:%Y-%m-%d %H:%M:%S} UTC" in restored["reason"], restored
        assert orders(pitr_pg) == list(range(1, 201))  # exactly the rows before T

        # on the new timeline, more rows; a Restore without pointInTime: the newest WAL
        orders(pitr_pg, "INSERT INTO orders SELECT g, 'later' FROM generate_series(201, 250) g")
        archived_now(pitr_pg, claim)
        apply(plane, {"apiVersion": "leapfrog.dev/v1alpha1", "kind": "Restore",
                      "metadata": {"name": "pglatest", "namespace": NAMESPACE},
                      "spec": {"backup": name}})  # fmt: skip
        latest_job = wait_for("the latest restore's Job", lambda: get(plane, "job", "pglatest"))
        assert "--to" not in latest_job["spec"]["template"]["spec"]["containers"][0]["command"]
        pitr_pg.stop()
        try:
            (latest,) = run_steps(plane, latest_job, service, local, app_user, folders=data)
        finally:
            pitr_pg.start()
        assert "to the newest archived WAL" in latest["reason"], latest
        assert orders(pitr_pg) == list(range(1, 251))  # the restored timeline, followed

    # the operator followed the Job (KWOK ran its pod) into the Restore's status
    finished = wait_for(
        "the Restore to succeed",
        lambda: (r := get(plane, "restore", restore_name)).get("status", {}).get("phase")
        == "Succeeded" and r,
    )  # fmt: skip
    (completed,) = finished["status"]["conditions"]
    assert (completed["type"], completed["status"]) == ("Completed", "True")
    reasons = {e["reason"] for e in items(plane, "events")
               if e["involvedObject"]["name"] == restore_name}  # fmt: skip
    assert {"JobCreated", "Succeeded"} <= reasons

    # a time before the backup ended is refused by the CLI, saying why; no Restore made
    early = "2020-01-01T00:00:00Z"
    code, out, err = leapfrog_cli(
        capsys, "backup", "restore", name, "--to", early, *cluster, "--yes"
    )
    assert code != 0 and f"pointInTime {early} is before Backup {name} ended" in " ".join(
        err.split()
    )


_COORDINATOR_NOT_YET = {
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
}


def commit_until_accepted(group: Consumer, offsets: list[TopicPartition]) -> None:
    """Commit `offsets`, again while the broker has no group coordinator ready yet: one just
    started may still be loading it (COORDINATOR_LOAD_IN_PROGRESS, seen on a busy machine)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            group.commit(offsets=offsets, asynchronous=False)
            return
        except KafkaException as exc:
            error = exc.args[0]
            if not isinstance(error, KafkaError) or error.code() not in _COORDINATOR_NOT_YET:
                raise
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def test_a_kafka_backup_job_writes_into_the_claim_and_verifies(
    plane: ControlPlane,
    operator: None,
    kafka: RunningComponent,
    app_user: UnixUser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    producer = Producer({"bootstrap.servers": kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]})
    for i in range(RECORDS):
        producer.produce(TOPIC, key=f"k{i}".encode(), value=f"order {i}".encode())
    assert producer.flush(30) == 0
    # a consumer group that processed part of them: its offsets are backed up too
    group = Consumer({"bootstrap.servers": kafka.env()["KAFKA_BOOTSTRAP_SERVERS"],
                      "group.id": "kb-billing", "enable.auto.commit": False})  # fmt: skip
    commit_until_accepted(group, [TopicPartition(TOPIC, 0, RECORDS // 2)])
    group.close()
    store = {"kind": "kafka", "service": "kafka", "ports": {"kafka": 9092}}
    storage = {"pvc": {"claimName": "backups-postgres"}}
    apply(plane, a_backup("kafkarun", store, storage=storage))
    job, backup = backup_job(plane, "kafkarun")
    pod = job["spec"]["template"]["spec"]
    assert {"name": "storage", "persistentVolumeClaim": {"claimName": "backups-postgres"}} in pod[
        "volumes"
    ]
    said: dict[str, str] = {}
    taken, verified = run_steps(
        plane, job, "kafka.bkop.svc:9092", f"{KAFKA_ADDRESS}:{kafka.where.port}", app_user, said
    )
    assert taken["backup"] == verified["backup"] == backup["status"]["backupId"]
    assert "1 groups' offsets match the manifest" in verified["reason"], verified

    # What the run took reaches the Backup's status: its pod's termination message, read
    # by the operator (with the rendered Role's rights).
    kubelet_says(plane, "kafkarun", said)
    status = wait_for(
        "the Backup's size",
        lambda: (found := get(plane, "backup", "kafkarun")["status"]).get("objects") and found,
        seen=lambda: get(plane, "backup", "kafkarun"),
    )
    assert status["rawSize"] == taken["bytes"] > 0
    assert status["size"] > 0 and status["objects"] >= 3  # records, topics, groups
    assert status["position"] == f"1 topics, 1 partitions, high watermarks sum {RECORDS}"
    wait_for("the Backup to succeed", lambda: in_phase(plane, "kafkarun", "Succeeded"))
    columns = plane.kubectl("get", "backup", "kafkarun", "-n", NAMESPACE).stdout
    header, row = columns.splitlines()
    assert header.split()[:6] == ["NAME", "STORE", "PHASE", "SIZE", "OBJECTS", "POSITION"]
    sizes = [str(status["size"]), str(status["objects"])]
    assert row.split()[:5] == ["kafkarun", "kafka", "Succeeded", *sizes]
    assert status["position"] in row
    cluster = ["--kubeconfig", str(plane.kubeconfig), "-n", NAMESPACE]
    code, out, err = leapfrog_cli(capsys, "backup", "list", "kafka", *cluster, "--json")
    assert code == 0, err
    (listed,) = [b for b in json.loads(out)["backups"] if b["name"] == "kafkarun"]
    assert (listed["size"], listed["object_count"], listed["position_summary"]) == (
        status["size"], status["objects"], status["position"])  # fmt: skip
    code, out, err = leapfrog_cli(capsys, "backup", "list", "kafka", *cluster)
    assert code == 0, err
    assert "OBJECTS" in out and "high watermarks sum" in out


def records_of(bootstrap: str, topic: str, partitions: int) -> list[tuple[int, int, bytes, bytes]]:
    """Every record of `topic`: (partition, offset, key, value), in order."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "kr-reader",
                       "enable.auto.commit": False, "enable.partition.eof": True})  # fmt: skip
    try:
        reader.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        found, ended = [], set()
        deadline = time.monotonic() + 30
        while len(ended) < partitions and time.monotonic() < deadline:
            message = reader.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                ended.add(message.partition())
                continue
            assert error is None, error
            found.append((message.partition(), message.offset(), message.key(), message.value()))
        assert len(ended) == partitions, f"{topic}: read to the end of {sorted(ended)} only"
        return sorted(found)
    finally:
        reader.close()


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    """`group`'s committed offset of each partition of `topic` (-1001: none)."""
    member = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                       "enable.auto.commit": False})  # fmt: skip
    try:
        offsets = member.committed([TopicPartition(topic, p) for p in range(partitions)], 30)
        return [tp.offset for tp in sorted(offsets, key=lambda tp: tp.partition)]
    finally:
        member.close()


def test_a_kafka_restore_recreates_the_topics_and_maps_the_groups_offsets(
    plane: ControlPlane,
    operator: None,
    kafka: RunningComponent,
    app_user: UnixUser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Kafka Backup (no verify: the backup test above verifies one), then records
    written and a topic deleted after it; `backup restore --topic kr-pay --target
    kubernetes` makes a Restore choosing that topic, whose Job recreates it with its
    records at their offsets and its group's committed offsets, and leaves the other
    topic deleted; a Restore of the whole Backup brings that one back too. The
    operator follows each restore Job into the Restore's status and events."""
    from confluent_kafka.admin import AdminClient, NewTopic

    bootstrap = kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    made = admin.create_topics([NewTopic("kr-pay", 2, 1), NewTopic("kr-audit", 1, 1)])
    for future in made.values():
        future.result(30)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(100):
        producer.produce("kr-pay", key=f"p{i}".encode(), value=f"pay {i}".encode(),
                         partition=i % 2)  # fmt: skip
    for i in range(30):
        producer.produce("kr-audit", key=f"a{i}".encode(), value=f"audit {i}".encode())
    assert producer.flush(30) == 0
    pay, audit = records_of(bootstrap, "kr-pay", 2), records_of(bootstrap, "kr-audit", 1)
    assert len(pay) == 100 and len(audit) == 30
    for group, offsets in (
        ("kr-billing", [TopicPartition("kr-pay", 0, 10), TopicPartition("kr-pay", 1, 35)]),
        ("kr-auditor", [TopicPartition("kr-audit", 0, 12)]),
    ):
        member = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                           "enable.auto.commit": False})  # fmt: skip
        commit_until_accepted(member, offsets)
        member.close()

    store = {"kind": "kafka", "service": "kafka", "ports": {"kafka": 9092}}
    claimed = {"pvc": {"claimName": "backups-postgres"}}
    apply(plane, a_backup("krrun", store, storage=claimed, verify=False))
    job, backup = backup_job(plane, "krrun")
    service, local = "kafka.bkop.svc:9092", f"{KAFKA_ADDRESS}:{kafka.where.port}"
    with scratch_dir("lf-kb-claim-") as claim:  # the backups' claim, from backup to restore
        os.chown(claim, app_user.uid, app_user.gid)
        (taken,) = run_steps(plane, job, service, local, app_user, folders={"storage": claim})
        assert taken["backup"] == backup["status"]["backupId"]
        wait_for("the Backup to succeed", lambda: in_phase(plane, "krrun", "Succeeded"))

        # after the backup: records written, the group further on, a topic deleted
        for i in range(100, 140):
            producer.produce("kr-pay", key=f"p{i}".encode(), value=b"late", partition=i % 2)
        assert producer.flush(30) == 0
        member = Consumer({"bootstrap.servers": bootstrap, "group.id": "kr-billing",
                           "enable.auto.commit": False})  # fmt: skip
        commit_until_accepted(member, [TopicPartition("kr-pay", 0, 70), TopicPartition(
            "kr-pay", 1, 70)])  # fmt: skip
        member.close()
        admin.delete_topics(["kr-audit"])["kr-audit"].result(30)

        said_first, restore_job = restore_chosen(plane, capsys, "krrun", "topic", "kr-pay")
        assert "deletes and recreates topics (kr-pay) on kafka (kafka)" in said_first
        assert "their consumers must be stopped" in said_first
        name = restore_job["metadata"]["name"]
        (owner,) = restore_job["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"]) == ("Restore", name)
        pod = restore_job["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"] == IMAGE and container["command"][-2:] == ["--topic", "kr-pay"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert {"name": "storage", "persistentVolumeClaim": {"claimName": "backups-postgres"}} in (
            pod["volumes"]
        )
        (restored,) = run_steps(
            plane, restore_job, service, local, app_user, folders={"storage": claim}
        )
        assert restored["action"] == "restore" and restored["backup"] == taken["backup"]
        assert "1 topics (kr-pay), 100 records" in restored["reason"], restored
        assert records_of(bootstrap, "kr-pay", 2) == pay  # each record at its own offset
        assert committed(bootstrap, "kr-billing", "kr-pay", 2) == [10, 35]
        assert "kr-audit" not in admin.list_topics(timeout=30).topics  # not chosen
        # the operator followed the Job (KWOK ran its pod) into the Restore's status
        done = wait_for(
            "the Restore to succeed",
            lambda: (r := get(plane, "restore", name)).get("status", {}).get("phase")
            == "Succeeded" and r,
        )  # fmt: skip
        (completed,) = done["status"]["conditions"]
        assert (completed["type"], completed["status"]) == ("Completed", "True")
        assert done["status"]["job"] == name
        assert done["status"]["message"] == "the backup was put back"
        reasons = {e["reason"] for e in items(plane, "events")
                   if e["involvedObject"]["name"] == name}  # fmt: skip
        assert {"JobCreated", "Succeeded"} <= reasons

        # the whole Backup: the deleted topic is back with its group's offset
        apply(plane, {"apiVersion": "leapfrog.dev/v1alpha1", "kind": "Restore",
                      "metadata": {"name": "krwhole", "namespace": NAMESPACE},
                      "spec": {"backup": "krrun"}})  # fmt: skip
        whole_job = wait_for("the whole restore's Job", lambda: get(plane, "job", "krwhole"))
        assert "--topic" not in whole_job["spec"]["template"]["spec"]["containers"][0]["command"]
        (whole,) = run_steps(plane, whole_job, service, local, app_user, folders={"storage": claim})
    assert "kr-audit" in whole["reason"] and "kr-pay" in whole["reason"], whole
    assert records_of(bootstrap, "kr-audit", 1) == audit
    assert committed(bootstrap, "kr-auditor", "kr-audit", 1) == [12]
    assert records_of(bootstrap, "kr-pay", 2) == pay
    assert committed(bootstrap, "kr-billing", "kr-pay", 2) == [10, 35]


def zk_client(zookeeper: RunningComponent) -> KazooClient:
    client = KazooClient(hosts=zookeeper.env()["ZOOKEEPER_CONNECT"], timeout=10)
    client.start(timeout=30)
    return client


def zk_tree(zookeeper: RunningComponent) -> tuple[dict[str, str], list[str]]:
    client = zk_client(zookeeper)
    try:
        found: tuple[dict[str, str], list[str]] = server_tree(client)
        return found
    finally:
        client.stop()
        client.close()


def test_a_zookeeper_restore_replaces_the_servers_files_only_while_it_is_stopped(
    plane: ControlPlane,
    operator: None,
    zookeeper: RunningComponent,
    app_user: UnixUser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Backup of ZooKeeper, its zxid in its status; a Restore of it (made by `backup
    restore --target kubernetes`, saying what it replaces) mounts the server's claim,
    refuses while the server runs, and puts the tree back once it is stopped."""
    store = {
        "kind": "zookeeper",
        "service": "zookeeper",
        "ports": {"zookeeper": 2181},
        "data": {"claimName": "data-zookeeper-0", "runAsUser": app_user.uid},
    }
    apply(plane, a_backup("zkrun", store, storage={"pvc": {"claimName": "backups-postgres"}}))
    job, backup = backup_job(plane, "zkrun")
    service, local = "zookeeper.bkop.svc:2181", f"{ZK_ADDRESS}:2181"
    with scratch_dir("lf-kb-claim-") as claim:  # the backups' claim, from backup to restore
        os.chown(claim, app_user.uid, app_user.gid)
        said: dict[str, str] = {}
        client = zk_client(zookeeper)
        try:
            for i in range(50):
                client.create(f"/kb/items/{i:03d}", f"item {i}".encode(), makepath=True)
            client.create("/kb/lock", b"held", ephemeral=True)  # its session ends below
            before, _ = server_tree(client)
            taken, verified = run_steps(
                plane, job, service, local, app_user, said, folders={"storage": claim}
            )
            # changes after the backup, which the restore undoes
            client.delete("/kb/items", recursive=True)
            client.create("/kb/late", b"after the backup")
        finally:
            client.stop()
            client.close()
        assert taken["backup"] == verified["backup"] == backup["status"]["backupId"]
        kubelet_says(plane, "zkrun", said)
        status = wait_for(
            "the Backup's zxid",
            lambda: (found := get(plane, "backup", "zkrun")["status"]).get("position") and found,
        )
        assert status["position"].startswith("zxid 0x") and status["objects"] >= 1
        wait_for("the Backup to succeed", lambda: in_phase(plane, "zkrun", "Succeeded"))

        cluster = ["--kubeconfig", str(plane.kubeconfig), "-n", NAMESPACE]
        code, out, err = leapfrog_cli(
            capsys, "backup", "restore", "zkrun", *cluster, "--yes", "--no-wait"
        )
        assert code == 0, (out, err)
        said_first = " ".join(err.split())  # as one line, wherever the console wrapped it
        assert "in its claim data-zookeeper-0 with the backup's snapshot" in said_first
        assert "kubectl scale statefulset zookeeper --replicas=0" in said_first
        (restore,) = [r for r in items(plane, "restores") if r["spec"]["backup"] == "zkrun"]
        name = restore["metadata"]["name"]
        restore_job = wait_for("the restore Job", lambda: get(plane, "job", name))
        pod = restore_job["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == app_user.uid  # the server's user
        data = {"store-data": zookeeper.where.data_dir / DATA, "storage": claim}
        # while the server runs, its files are left alone
        (refused,) = run_steps(
            plane, restore_job, service, local, app_user, folders=data, check=False
        )
        assert refused["state"] == "failed", refused
        assert (
            "zookeeper is running: its files are replaced only while it is stopped"
            in (refused["reason"])
        )
        assert "kubectl scale statefulset zookeeper --replicas=0" in refused["reason"]
        assert "/kb/late" in zk_tree(zookeeper)[0]
        zookeeper.stop()
        try:
            (restored,) = run_steps(plane, restore_job, service, local, app_user, folders=data)
        finally:
            zookeeper.start()
    assert restored["backup"] == backup["status"]["backupId"]
    assert "1 ephemeral nodes dropped" in restored["reason"]
    after, ephemeral = zk_tree(zookeeper)
    assert after == before and ephemeral == []


def search(node: RunningComponent, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, node.env()["OPENSEARCH_URL"] + path, json=body, timeout=60)
    assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


def documents(node: RunningComponent, index: str) -> list[tuple[str, Any]]:
    search(node, "POST", f"/{index}/_refresh")
    hits = search(node, "POST", f"/{index}/_search", {"size": 1000})["hits"]["hits"]
    return sorted((hit["_id"], hit["_source"]) for hit in hits)


def test_opensearch_jobs_run_beside_the_node_and_a_restore_chooses_an_index(
    plane: ControlPlane,
    operator: None,
    opensearch: RunningComponent,
    app_user: UnixUser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """OpenSearch's snapshot repository is under the node's path.repo: its Jobs mount
    the node's claim, on the node's node (a stand-in pod carries its labels here), and
    name the repository by the node's own path. A backup and its verify, its snapshot
    in the status; a Restore of one chosen index puts it back and leaves the other."""
    for i in range(30):
        search(opensearch, "PUT", f"/kb-logs/_doc/l{i}", {"line": f"log {i}"})
    search(opensearch, "PUT", "/kb-other/_doc/o1", {"v": 1})
    logs_before = documents(opensearch, "kb-logs")
    labels = {"app.kubernetes.io/name": "opensearch", "app.kubernetes.io/part-of": "kbtest"}
    # the node's pod (KWOK runs it on a fake node) and its claim, as the render has them
    server = {"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": "opensearch-0", "namespace": NAMESPACE, "labels": labels},
              "spec": restricted_pod(1000, [{"name": "opensearch", "image": "opensearch",
                                             "securityContext": container_security()}],
                                     [])}  # fmt: skip
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": "data-opensearch-0", "namespace": NAMESPACE},
             "spec": {"accessModes": ["ReadWriteOnce"],
                      "resources": {"requests": {"storage": "1Gi"}}}}  # fmt: skip
    apply(plane, claim)
    apply(plane, server)
    store = {
        "kind": "opensearch",
        "service": "opensearch",
        "ports": {"opensearch": 9200},
        "data": {"claimName": "data-opensearch-0", "runAsUser": app_user.uid,
                 "serverPath": "/usr/share/opensearch/data", "serverLabels": labels},
    }  # fmt: skip
    apply(plane, a_backup("osrun", store, storage={"pvc": {"claimName": "backups-postgres"}}))
    job, backup = backup_job(plane, "osrun")
    service, local = "opensearch.bkop.svc:9200", f"{OS_ADDRESS}:{opensearch.where.port}"
    node = {"store-data": opensearch.where.data_dir}
    seen = {"/usr/share/opensearch/data": opensearch.where.data_dir}  # the node's own view
    with scratch_dir("lf-kb-claim-") as backups:
        os.chown(backups, app_user.uid, app_user.gid)
        said: dict[str, str] = {}
        taken, verified = run_steps(
            plane, job, service, local, app_user, said,
            folders={**node, "storage": backups}, paths=seen,
        )  # fmt: skip
        assert taken["backup"] == verified["backup"] == backup["status"]["backupId"]
        assert "2 indices" in verified["reason"], verified
        kubelet_says(plane, "osrun", said)
        status = wait_for(
            "the Backup's snapshot",
            lambda: (found := get(plane, "backup", "osrun")["status"]).get("position") and found,
        )
        assert status["position"].startswith("snapshot lf-") and status["objects"] >= 1
        ran = wait_for("the run's pod", lambda: [
            p for p in items(plane, "pods") if p["metadata"]["labels"].get("job-name") == "osrun"
        ])  # fmt: skip
        assert ran[0]["spec"]["nodeName"] == get(plane, "pod", "opensearch-0")["spec"]["nodeName"]
        wait_for("the Backup to succeed", lambda: in_phase(plane, "osrun", "Succeeded"))

        # after the backup: logs lost, the other index changed
        search(opensearch, "DELETE", "/kb-logs")
        search(opensearch, "PUT", "/kb-other/_doc/o2", {"v": 2})
        said, restore_job = restore_chosen(plane, capsys, "osrun", "index", "kb-logs")
        assert "replaces indices (kb-logs) on opensearch (opensearch)" in said
        (restored,) = run_steps(
            plane, restore_job, service, local, app_user,
            folders={**node, "storage": backups}, paths=seen,
        )  # fmt: skip
    assert restored["backup"] == backup["status"]["backupId"]
    assert documents(opensearch, "kb-logs") == logs_before
    assert [d for d, _ in documents(opensearch, "kb-other")] == ["o1", "o2"]  # left alone


@pytest.fixture(scope="module")
def influx() -> Iterator[RunningComponent]:
    """A real influxd on free ports of 127.0.0.1 (its RPC port too, which the Jobs are
    told with `--port rpc=`)."""
    options = {"port": free_port("127.0.0.1"), "rpc_port": free_port("127.0.0.1")}
    with own_component("influxdb", options, "127.0.0.1") as running:
        yield running


def influxql(node: RunningComponent, statement: str, db: str = "") -> list[Any]:
    """(tags, values) of each series `statement` gives."""
    response = httpx.post(node.env()["INFLUXDB_URL"] + "/query",
                          params={"q": statement, "db": db}, timeout=30)  # fmt: skip
    (result,) = response.raise_for_status().json()["results"]
    assert "error" not in result, result
    return [(s.get("tags"), s.get("values")) for s in result.get("series", [])]


def influx_write(node: RunningComponent, db: str, lines: list[str]) -> None:
    response = httpx.post(node.env()["INFLUXDB_URL"] + "/write",
                          params={"db": db, "precision": "s"}, content="\n".join(lines),
                          timeout=30)  # fmt: skip
    assert response.status_code == 204, response.text


def influx_databases(node: RunningComponent) -> list[str]:
    held = influxql(node, "SHOW DATABASES")
    return sorted(name for _, values in held for (name,) in values if name != "_internal")


def test_an_influxdb_backup_job_verifies_and_a_restore_chooses_a_database(
    plane: ControlPlane,
    operator: None,
    influx: RunningComponent,
    app_user: UnixUser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """InfluxDB's tools speak to the server's RPC port: the Jobs name it (`--port rpc=`)
    beside the Service's address. A backup Job of two databases and its verify; after
    points written into one and the other dropped, `backup restore --database kbm
    --target kubernetes` makes a Restore choosing it, whose Job puts it back as the
    backup held it and leaves the other dropped; a whole Restore brings that back."""
    base = 1_700_000_000
    for db in ("kbm", "kbo"):
        influxql(influx, f"CREATE DATABASE {db}")
    influx_write(influx, "kbm", [f"cpu,host=h{i % 5} user={i * 0.5},n={i}i {base + i}"
                                 for i in range(600)])  # fmt: skip
    influx_write(influx, "kbo", [f"disk,dev=d{i % 3} free={i}i {base + i}" for i in range(90)])
    everything = "SELECT * FROM /.*/ GROUP BY *"
    kbm, kbo = influxql(influx, everything, "kbm"), influxql(influx, everything, "kbo")
    assert len(kbm) == 5 and len(kbo) == 3

    port, rpc = influx.where.port, influx.options.rpc_port
    store = {"kind": "influxdb", "service": "influxdb", "ports": {"influxdb": port, "rpc": rpc}}
    apply(plane, a_backup("ifrun", store, storage={"pvc": {"claimName": "backups-postgres"}}))
    job, backup = backup_job(plane, "ifrun")
    for container in [*job["spec"]["template"]["spec"]["initContainers"],
                      *job["spec"]["template"]["spec"]["containers"]]:  # fmt: skip
        command = container["command"]
        at = command.index("--address")
        assert command[at : at + 4] == ["--address", f"influxdb.bkop.svc:{port}", "--port",
                                        f"rpc={rpc}"]  # fmt: skip
    service, local = f"influxdb.bkop.svc:{port}", f"127.0.0.1:{port}"
    with scratch_dir("lf-kb-claim-") as claim:  # the backups' claim, from backup to restore
        os.chown(claim, app_user.uid, app_user.gid)
        said: dict[str, str] = {}
        taken, verified = run_steps(
            plane, job, service, local, app_user, said, folders={"storage": claim}
        )
        assert taken["backup"] == verified["backup"] == backup["status"]["backupId"]
        assert "2 databases" in verified["reason"], verified
        kubelet_says(plane, "ifrun", said)
        status = wait_for(
            "the Backup's databases",
            lambda: (found := get(plane, "backup", "ifrun")["status"]).get("position") and found,
        )
        assert status["position"] == "databases kbm,kbo" and status["objects"] >= 3
        wait_for("the Backup to succeed", lambda: in_phase(plane, "ifrun", "Succeeded"))

        # after the backup: points written into kbm, kbo dropped
        influx_write(influx, "kbm", [f"cpu,host=late user=1 {base + 9999}"])
        influxql(influx, "DROP DATABASE kbo")
        said, restore_job = restore_chosen(plane, capsys, "ifrun", "database", "kbm")
        assert "replaces databases (kbm) on influxdb (influxdb)" in said
        name = restore_job["metadata"]["name"]
        (container,) = restore_job["spec"]["template"]["spec"]["containers"]
        assert container["command"][-2:] == ["--database", "kbm"]
        assert f"rpc={rpc}" in container["command"]
        (restored,) = run_steps(
            plane, restore_job, service, local, app_user, folders={"storage": claim}
        )
        assert restored["backup"] == taken["backup"], restored
        assert influxql(influx, everything, "kbm") == kbm  # the late point is gone
        assert influx_databases(influx) == ["kbm"]  # kbo was not chosen
        done = wait_for(
            "the Restore to succeed",
            lambda: (r := get(plane, "restore", name)).get("status", {}).get("phase")
            == "Succeeded" and r,
        )  # fmt: skip
        assert [(c["type"], c["status"]) for c in done["status"]["conditions"]] == [
            ("Completed", "True")
        ]

        apply(plane, {"apiVersion": "leapfrog.dev/v1alpha1", "kind": "Restore",
                      "metadata": {"name": "ifwhole", "namespace": NAMESPACE},
                      "spec": {"backup": "ifrun"}})  # fmt: skip
        whole_job = wait_for("the whole restore's Job", lambda: get(plane, "job", "ifwhole"))
        run_steps(plane, whole_job, service, local, app_user, folders={"storage": claim})
    assert influx_databases(influx) == ["kbm", "kbo"]
    assert influxql(influx, everything, "kbo") == kbo
    assert influxql(influx, everything, "kbm") == kbm


def test_a_backup_choosing_in_a_store_backed_up_whole_is_refused_without_a_job(
    plane: ControlPlane, operator: None
) -> None:
    store = {"kind": "zookeeper", "service": "zookeeper", "ports": {"zookeeper": 2181}}
    apply(
        plane,
        a_backup(
            "zk-chosen",
            {**store, "chosen": ["/app"]},
            storage={"pvc": {"claimName": "backups-zookeeper"}},
        ),
    )
    failed = wait_for("the refused Backup", lambda: in_phase(plane, "zk-chosen", "Failed"))
    status = failed["status"]
    assert status["message"] == (
        "a zookeeper backup is of the whole store: store.chosen names nothing"
    )
    assert status["conditions"][0]["reason"] == "Refused"
    assert get(plane, "job", "zk-chosen") is None
    events = plane.kubectl(
        "get", "events", "-n", NAMESPACE, "--field-selector", "involvedObject.name=zk-chosen"
    ).stdout
    assert "Refused" in events
