"""The backup operator's decisions without a cluster: due slots, run names, the run's
Job, and a Job's status read into its Backup's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import kubernetes_validate
import pytest

from leapfrog.backup._kube_runs import (
    JOB_BACKOFF_LIMIT,
    backup_for_slot,
    backup_id_for,
    backup_name,
    backup_problem,
    due_slot,
    job_for,
    keep_objects,
    manifest_key,
    recoverability,
    replaced_by,
    restore_job_for,
    restore_problem,
    restore_state,
    run_state,
    summary_status,
)
from leapfrog.backup.manifest import is_backup_id

T0 = datetime(2026, 12, 6, 9, 0, 30, tzinfo=UTC)
S3_SPEC: dict[str, Any] = {
    "store": {"kind": "kafka", "service": "kafka", "ports": {"kafka": 9092},
              "chosen": ["orders", "pay*"]},
    "storage": {"s3": {"bucket": "backups", "prefix": "prod", "endpoint": "http://s3:9000",
                       "accessKey": {"name": "s3-access", "key": "value"},
                       "secretKey": {"name": "s3-secret", "key": "value"}}},
    "encryption": {"name": "kafka-key", "key": "value"},
    "verify": True,
    "deadlineSeconds": 600,
    "schedule": "kafka",
}  # fmt: skip


def test_the_newest_time_at_or_before_now_is_due() -> None:
    created = T0 - timedelta(days=1)
    assert due_slot("*/10 * * * *", T0, created) == datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    later = T0 + timedelta(minutes=9)
    assert due_slot("*/10 * * * *", later, created) == datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    exact = datetime(2026, 12, 6, 9, 10, tzinfo=UTC)
    assert due_slot("*/10 * * * *", exact, created) == exact


def test_times_before_the_schedule_existed_are_not_run() -> None:
    assert due_slot("0 3 * * *", T0, T0 - timedelta(minutes=1)) is None
    # many missed times: only the newest, once (no burst)
    assert due_slot("* * * * *", T0, T0 - timedelta(hours=5)) == T0.replace(second=0)


def test_a_slot_has_one_name_of_63_characters_at_most() -> None:
    slot = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    assert backup_name("postgres", slot) == "postgres-202612060900"
    long = backup_name("s" * 70, slot)
    assert len(long) <= 63 and long == backup_name("s" * 70, slot)
    assert long != backup_name("s" * 69 + "t", slot)


def test_a_slots_backup_copies_what_the_schedule_says() -> None:
    schedule = {
        "metadata": {"name": "kafka", "namespace": "prod",
                     "labels": {"app.kubernetes.io/part-of": "shop", "other": "x",
                                "app.kubernetes.io/managed-by": "leapfrog"}},
        "spec": {**S3_SPEC, "schedule": "*/10 * * * *", "retention": {"keepLast": 3}},
    }  # fmt: skip
    backup = backup_for_slot(schedule, datetime(2026, 12, 6, 9, 0, tzinfo=UTC))
    assert backup["metadata"]["name"] == "kafka-202612060900"
    assert backup["metadata"]["labels"] == {
        "app.kubernetes.io/part-of": "shop",
        "app.kubernetes.io/component": "backup",
        "app.kubernetes.io/managed-by": "backup-operator",  # never pruned by `apply`
        "leapfrog.dev/schedule": "kafka",
    }
    spec = backup["spec"]
    assert spec["schedule"] == "kafka" and spec["slot"] == "2026-12-06T09:00:00Z"
    assert spec["storage"] == S3_SPEC["storage"]
    assert spec["retention"] == {"keepLast": 3}  # its Job prunes by it


BACKUP_ID = "20261206T090000Z-ab12"


def test_the_job_runs_backup_verify_and_prune_with_no_stack_file() -> None:
    spec = {**S3_SPEC, "retention": {"keepLast": 3, "keepDaily": 2}}
    job = job_for("kafka-202612060900", "prod", spec, "reg/leapfrog:1.0", BACKUP_ID)
    kubernetes_validate.validate(job, "1.37.0", strict=True)
    spec = job["spec"]
    assert spec["backoffLimit"] == JOB_BACKOFF_LIMIT
    assert spec["activeDeadlineSeconds"] == 600
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    backup, verify = pod["initContainers"]
    (prune,) = pod["containers"]
    target = [
        "kafka", "--store-kind", "kafka", "--address", "kafka.prod.svc:9092",
        "--storage", "s3://backups/prod", "--history", "/tmp/history",
        "--s3-region", "us-east-1", "--s3-endpoint", "http://s3:9000",
        "--encryption", "kafka-key",
    ]  # fmt: skip
    assert backup["command"] == [
        "leapfrog", "backup", "run", *target, "--id", BACKUP_ID, "--json",
        "--deadline", "600", "--summary-to", "/dev/termination-log",
        "--topic", "orders", "--topic", "pay*",
    ]  # fmt: skip
    assert verify["command"] == [
        "leapfrog", "backup", "verify", *target, "--backup", BACKUP_ID, "--json",
    ]  # fmt: skip
    assert prune["command"] == [
        "leapfrog", "backup", "prune", *target, "--json", "--keep-last", "3", "--keep-daily", "2",
    ]  # fmt: skip
    for container in (backup, verify, prune):
        assert container["image"] == "reg/leapfrog:1.0"
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True
        assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    env = {e["name"]: e for e in backup["env"]}
    # credentials and the key come from Secrets, never as values nor as arguments
    for name, secret in (("AWS_ACCESS_KEY_ID", "s3-access"),
                         ("AWS_SECRET_ACCESS_KEY", "s3-secret"),
                         ("LEAPFROG_BACKUP_KEY", "kafka-key")):  # fmt: skip
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": "value"}
        assert "value" not in env[name]
    assert "PGPASSWORD" not in env  # kafka has no credentials
    assert job["metadata"]["labels"] == {
        "leapfrog.dev/backup": "kafka-202612060900",
        "leapfrog.dev/schedule": "kafka",
    }


def test_a_claim_is_mounted_postgres_is_logical_and_logs_in_from_its_secret() -> None:
    spec = {
        "store": {"kind": "postgres", "service": "pg", "ports": {"postgres": 5433},
                  "credentials": {"name": "postgres-credentials", "key": "postgres"}},
        "storage": {"pvc": {"claimName": "backups-postgres"}},
        "verify": False,
    }  # fmt: skip
    job = job_for("pg-1", "prod", spec, "img", BACKUP_ID)
    kubernetes_validate.validate(job, "1.37.0", strict=True)
    pod = job["spec"]["template"]["spec"]
    assert "initContainers" not in pod  # no verify, no retention: the backup alone
    (container,) = pod["containers"]
    command = container["command"]
    assert command[3:13] == [
        "pg", "--store-kind", "postgres", "--address", "pg.prod.svc:5433",
        "--storage", "/backups", "--history", "/backups/.history", "--id",
    ]  # fmt: skip
    assert command[-2:] == ["--mode", "logical"]
    env = {e["name"]: e for e in container["env"]}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "postgres-credentials",
        "key": "postgres",
    }
    assert {"name": "storage", "mountPath": "/backups"} in container["volumeMounts"]
    claim = next(v for v in pod["volumes"] if v["name"] == "storage")
    assert claim["persistentVolumeClaim"] == {"claimName": "backups-postgres"}
    assert job["spec"]["activeDeadlineSeconds"] == 6 * 3600


def test_a_runs_backup_id_is_known_before_it_runs_and_one_per_backup() -> None:
    slot = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    first = backup_id_for("pg-202612060900", slot)
    assert is_backup_id(first) and first.startswith("20261206T090000Z-")
    assert first == backup_id_for("pg-202612060900", slot)
    assert first != backup_id_for("other-202612060900", slot)
    assert manifest_key({"store": {"service": "pg"}}, first) == f"pg/backups/{first}/manifest.json"


NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def test_a_job_not_started_is_pending_and_one_with_a_pod_running() -> None:
    assert run_state(None, True, NOW).phase == "Pending"
    running = run_state({"active": 1, "startTime": "2026-12-06T09:00:00Z"}, True, NOW)
    assert running.phase == "Running" and running.start == "2026-12-06T09:00:00Z"


@pytest.mark.parametrize("verify", [True, False])
def test_a_complete_job_is_succeeded_and_verified_only_when_it_verified(verify: bool) -> None:
    status = {
        "startTime": "2026-12-06T09:00:00Z",
        "completionTime": "2026-12-06T09:05:00Z",
        "succeeded": 1,
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True"},
            {"type": "Complete", "status": "True"},
        ],
    }
    state = run_state(status, verify, NOW)
    assert state.phase == "Succeeded" and state.completion == "2026-12-06T09:05:00Z"
    conditions = {c["type"]: c for c in state.status()["conditions"]}
    assert conditions["Completed"]["status"] == "True"
    assert conditions["Verified"]["status"] == ("True" if verify else "False")


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("DeadlineExceeded", "Job was active longer than specified deadline"),
        ("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
    ],
)
def test_a_failed_job_is_failed_with_the_job_controllers_reason(reason: str, message: str) -> None:
    status = {
        "startTime": "2026-12-06T09:00:00Z",
        "failed": 1,
        "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": reason},
            {"type": "Failed", "status": "True", "reason": reason, "message": message,
             "lastTransitionTime": "2026-12-06T09:10:00Z"},
        ],
    }  # fmt: skip
    state = run_state(status, True, NOW)
    assert state.phase == "Failed"
    assert state.message == f"{reason}: {message}"
    assert state.completion == "2026-12-06T09:10:00Z"
    conditions = {c["type"]: c for c in state.status()["conditions"]}
    assert conditions["Completed"] == {
        "type": "Completed", "status": "False", "reason": reason, "message": message,
        "lastTransitionTime": "2026-12-06T09:10:00Z",
    }  # fmt: skip
    assert conditions["Verified"]["status"] == "False"


def test_a_condition_that_is_not_true_decides_nothing() -> None:
    status = {"active": 1, "conditions": [{"type": "Failed", "status": "False"}]}
    assert run_state(status, True, NOW).phase == "Running"


def finished(name: str, ended: str, phase: str = "Succeeded", verified: str = "True") -> Any:
    conditions = [{"type": "Verified", "status": verified, "reason": "Restored"}]
    return {
        "metadata": {"name": name},
        "status": {"phase": phase, "completionTime": ended, "conditions": conditions},
    }


def test_retention_deletes_the_objects_the_rules_do_not_keep() -> None:
    runs = [finished(f"pg-{i}", f"2026-12-06T0{i}:00:00Z") for i in range(1, 6)]
    runs.append(finished("pg-0", "2026-12-06T00:30:00Z", phase="Failed", verified="False"))
    runs.append({"metadata": {"name": "pg-6"}, "status": {"phase": "Running"}})
    # keep the newest 2 good ones; the failed one older than them goes too; running stays
    assert keep_objects(runs, {"keepLast": 2}) == ["pg-0", "pg-1", "pg-2", "pg-3"]
    # daily: the newest of 2 days, besides the last 1; the failed one is newer than
    # the oldest kept (yesterday's), so it stays
    runs.append(finished("pg-y", "2026-12-05T23:00:00Z"))
    assert keep_objects(runs, {"keepLast": 1, "keepDaily": 2}) == ["pg-1", "pg-2", "pg-3", "pg-4"]
    # the newest good one stays even when newer ones failed verification
    bad = [finished("a", "2026-12-06T01:00:00Z"),
           finished("b", "2026-12-06T02:00:00Z", verified="False")]  # fmt: skip
    assert keep_objects(bad, {"keepLast": 1}) == []
    assert keep_objects([], {"keepLast": 1}) == []


def test_the_recoverability_window_spans_the_good_backups() -> None:
    runs = [
        finished("a", "2026-12-06T01:00:00Z"),
        finished("b", "2026-12-06T02:00:00Z", verified="False"),
        finished("c", "2026-12-06T03:00:00Z"),
        finished("d", "2026-12-06T04:00:00Z", phase="Failed", verified="False"),
    ]
    assert recoverability(runs) == {
        "recoverableFrom": "2026-12-06T01:00:00Z",
        "recoverableTo": "2026-12-06T03:00:00Z",
        "recoverablePoints": 2,
    }
    assert recoverability([]) == {"recoverablePoints": 0}


def a_backup(kind: str = "postgres", phase: str = "Succeeded", **store: Any) -> Any:
    return {
        "metadata": {"name": "pg-1"},
        "spec": {"store": {"kind": kind, "service": kind, **store},
                 "storage": {"pvc": {"claimName": "backups-pg"}}},
        "status": {"phase": phase, "backupId": BACKUP_ID},
    }  # fmt: skip


def test_a_restore_is_refused_with_the_reason() -> None:
    restore = {"spec": {"backup": "pg-1"}}
    assert restore_problem(restore, None) == "there is no Backup pg-1 in this namespace"
    assert restore_problem(restore, a_backup(phase="Failed")) == (
        "Backup pg-1 is Failed, not Succeeded"
    )
    timed = {"spec": {"backup": "pg-1", "pointInTime": "2026-12-06T01:00:00Z"}}
    assert "PostgreSQL only" in str(restore_problem(timed, a_backup("kafka")))
    assert "physical PostgreSQL backup" in str(restore_problem(timed, a_backup()))
    assert "no data claim to mount" in str(restore_problem(restore, a_backup(mode="physical")))
    assert "zookeeper restore reaches the server's files" in str(
        restore_problem(restore, a_backup("zookeeper"))
    )
    assert restore_problem(restore, a_backup(mode="logical")) is None
    assert restore_problem(restore, a_backup("kafka")) is None


def test_the_restore_job_restores_the_backups_id_from_its_storage() -> None:
    job = restore_job_for("back", "prod", a_backup(mode="logical"), "img")
    kubernetes_validate.validate(job, "1.37.0", strict=True)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == [
        "leapfrog", "backup", "restore", "postgres", "--store-kind", "postgres",
        "--address", "postgres.prod.svc:5432", "--storage", "/backups",
        "--history", "/backups/.history", "--backup", BACKUP_ID, "--yes", "--json",
    ]  # fmt: skip
    assert job["metadata"]["labels"] == {"leapfrog.dev/restore": "back"}


def test_a_zookeeper_restore_mounts_the_servers_claim_as_the_servers_user() -> None:
    data = {"claimName": "data-zookeeper-0", "runAsUser": 1000}
    zk = a_backup("zookeeper", data=data)
    assert restore_problem({"spec": {"backup": "pg-1"}}, zk) is None
    job = restore_job_for("zkback", "prod", zk, "img")
    kubernetes_validate.validate(job, "1.37.0", strict=True)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"][-2:] == ["--data-dir", "/store"]
    assert {"name": "store-data", "mountPath": "/store/zk-data"} in container["volumeMounts"]
    assert {"name": "store-data", "persistentVolumeClaim": {"claimName": "data-zookeeper-0"}} in (
        pod["volumes"]
    )
    security = pod["securityContext"]
    assert (security["runAsUser"], security["fsGroup"], security["runAsNonRoot"]) == (
        1000, 1000, True)  # fmt: skip
    lines = replaced_by(zk)
    assert "in its claim data-zookeeper-0" in lines[0]
    assert "kubectl scale statefulset zookeeper --replicas=0" in lines[1]
    # without the claim (a Backup written by hand) it says what is missing
    assert "names no data claim to mount" in str(
        restore_problem({"spec": {"backup": "pg-1"}}, a_backup("zookeeper"))
    )
    assert "opensearch restore reaches the server's files: Backup pg-1's store names no" in str(
        restore_problem({"spec": {"backup": "pg-1"}}, a_backup("opensearch"))
    )


OS_DATA = {
    "claimName": "data-opensearch-0",
    "runAsUser": 1000,
    "serverPath": "/usr/share/opensearch/data",
    "serverLabels": {"app.kubernetes.io/name": "opensearch"},
}


def test_every_opensearch_job_runs_beside_the_node_on_its_claim() -> None:
    """Its snapshot repository is under the node's path.repo: backup, verify and restore
    read and fill it through the node's claim, on the node's node, as its user, and
    name it to the node by the node's own path."""
    spec = {"store": {"kind": "opensearch", "service": "opensearch", "data": OS_DATA},
            "storage": {"pvc": {"claimName": "backups-opensearch"}}, "verify": True}  # fmt: skip
    backup = {"metadata": {"name": "os-1"}, "spec": spec,
              "status": {"phase": "Succeeded", "backupId": BACKUP_ID}}  # fmt: skip
    for job in (
        job_for("os-1", "prod", spec, "img", BACKUP_ID),
        restore_job_for("osback", "prod", backup, "img", ["logs-*"]),
    ):
        kubernetes_validate.validate(job, "1.37.0", strict=True)
        pod = job["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == 1000
        (term,) = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term == {"labelSelector": {"matchLabels": {"app.kubernetes.io/name": "opensearch"}},
                        "topologyKey": "kubernetes.io/hostname"}  # fmt: skip
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            assert {"name": "store-data", "mountPath": "/store"} in container["volumeMounts"]
            paths = [m["mountPath"] for m in container["volumeMounts"]]
            assert len(paths) == len(set(paths)), paths  # the API server refuses twice
            command = container["command"]
            at = command.index("--data-dir")
            assert command[at : at + 4] == [
                "--data-dir", "/store", "--server-data-dir", "/usr/share/opensearch/data",
            ]  # fmt: skip
    assert restore_problem({"spec": {"backup": "os-1"}}, backup) is None
    assert replaced_by(backup, ["logs-*"])[0].startswith("replaces indices (logs-*) on opensearch")
    # a ZooKeeper backup runs over the network: only its restore mounts the claim
    zk = {"store": {"kind": "zookeeper", "service": "zookeeper", "data": {**OS_DATA}},
          "storage": {"pvc": {"claimName": "b"}}}  # fmt: skip
    pod = job_for("zk-1", "prod", zk, "img", BACKUP_ID)["spec"]["template"]["spec"]
    assert "affinity" not in pod and pod["securityContext"]["runAsUser"] == 10001
    assert all("--data-dir" not in c["command"] for c in pod["initContainers"])


def test_a_restore_restores_what_it_chooses_else_what_the_run_chose() -> None:
    kafka = a_backup("kafka")
    kafka["spec"]["store"]["chosen"] = ["orders", "pay*"]

    def argv(job: dict[str, Any]) -> list[str]:
        (container,) = job["spec"]["template"]["spec"]["containers"]
        command: list[str] = container["command"]
        return command[command.index("--json") + 1 :]

    assert argv(restore_job_for("back", "prod", kafka, "img")) == [
        "--topic", "orders", "--topic", "pay*",
    ]  # fmt: skip
    assert argv(restore_job_for("back", "prod", kafka, "img", ["orders"])) == ["--topic", "orders"]
    pg = restore_job_for("back", "prod", a_backup(mode="logical"), "img", ["shop"])
    assert argv(pg) == ["--database", "shop"]
    assert replaced_by(kafka, ["orders"])[0].startswith("deletes and recreates topics (orders)")
    assert "(orders, pay*)" in replaced_by(kafka)[0]
    whole = {"spec": {"backup": "b1", "chosen": ["x"]}}
    assert restore_problem(whole, a_backup("kafka")) is None
    assert "a zookeeper backup restores whole" in str(restore_problem(whole, a_backup("zookeeper")))


def test_a_restore_jobs_state_speaks_of_the_restore() -> None:
    complete = {"conditions": [{"type": "Complete", "status": "True"}],
                "completionTime": "2026-12-06T09:05:00Z"}  # fmt: skip
    state = restore_state(complete, NOW)
    assert state.phase == "Succeeded" and state.message == "the backup was put back"
    assert [c["type"] for c in state.conditions] == ["Completed"]
    failed = {"conditions": [{"type": "Failed", "status": "True",
                              "reason": "BackoffLimitExceeded",
                              "message": "Job reached the backoff limit"}]}  # fmt: skip
    state = restore_state(failed, NOW)
    assert state.phase == "Failed" and state.message.startswith("BackoffLimitExceeded: ")
    assert restore_state(None, NOW).phase == "Pending"


def pod_of(name: str, message: str, exit_code: int = 0, init: bool = True) -> dict[str, Any]:
    ended = {"terminated": {"exitCode": exit_code, "reason": "Completed", "message": message}}
    statuses = [{"name": name, "state": ended}]
    return {"status": {"initContainerStatuses" if init else "containerStatuses": statuses}}


def test_the_runs_pod_says_what_it_took_in_its_termination_message() -> None:
    said = {"backupId": BACKUP_ID, "size": 2048, "rawSize": 9000, "objects": 3,
            "position": "zxid 0x1f"}  # fmt: skip
    text = json.dumps(said)
    expected = {"size": 2048, "rawSize": 9000, "objects": 3, "position": "zxid 0x1f"}
    assert summary_status(pod_of("backup", text), BACKUP_ID) == expected
    # the backup step is the pod's only container when nothing follows it
    assert summary_status(pod_of("backup", text, init=False), BACKUP_ID) == expected
    # another run's summary, a failure's log lines, a failed step, another step: nothing
    assert summary_status(pod_of("backup", text), "20261206T100000Z-cd34") is None
    assert summary_status(pod_of("backup", "Traceback... it broke"), BACKUP_ID) is None
    assert summary_status(pod_of("backup", text, exit_code=1), BACKUP_ID) is None
    assert summary_status(pod_of("verify", text), BACKUP_ID) is None
    assert summary_status({"status": {}}, BACKUP_ID) is None
    # fields of the wrong type are left out, never written into the status
    odd = {"backupId": BACKUP_ID, "size": "big", "objects": True, "position": "p"}
    assert summary_status(pod_of("backup", json.dumps(odd)), BACKUP_ID) == {"position": "p"}


def test_the_stores_other_ports_are_passed_to_every_step() -> None:
    """InfluxDB's RPC port (what `influxd backup|restore` speak) and ZooKeeper's
    AdminServer are reached at the store's Service: `--port NAME=PORT` beside
    `--address`, in the backup's steps and the restore's."""
    influx = a_backup("influxdb", ports={"influxdb": 8186, "rpc": 9088})
    for job in (
        job_for("i-1", "prod", influx["spec"], "img", BACKUP_ID),
        restore_job_for("iback", "prod", influx, "img", ["metrics"]),
    ):
        pod = job["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            command = container["command"]
            at = command.index("--address")
            assert command[at : at + 4] == [
                "--address", "influxdb.prod.svc:8186", "--port", "rpc=9088",
            ]  # fmt: skip
    (container,) = restore_job_for("iback", "prod", influx, "img", ["metrics"])["spec"][
        "template"]["spec"]["containers"]  # fmt: skip
    assert container["command"][-2:] == ["--database", "metrics"]
    # a store that names no main port passes none of the others either
    assert "--port" not in job_for("k", "prod", a_backup("kafka")["spec"], "img", BACKUP_ID)[
        "spec"]["template"]["spec"]["initContainers"][0]["command"]  # fmt: skip


def test_a_backup_choosing_in_a_store_backed_up_whole_is_refused() -> None:
    zookeeper = a_backup("zookeeper", chosen=["/app"])["spec"]
    assert backup_problem(zookeeper) == (
        "a zookeeper backup is of the whole store: store.chosen names nothing"
    )
    assert backup_problem(a_backup("kafka", chosen=["orders"])["spec"]) is None
    assert backup_problem(a_backup("zookeeper")["spec"]) is None
    physical = a_backup(mode="physical")["spec"]
    assert backup_problem(physical) is None
    for changed in ({"storage": {"s3": {"bucket": "b"}}}, {"encryption": {"name": "pg-key"}}):
        assert "needs the WAL its server archives into a volume claim" in str(
            backup_problem(physical | changed)
        )


def physical_backup(ended: str = "2026-12-06T09:00:00Z") -> Any:
    data = {"claimName": "data-postgres-0", "runAsUser": 999,
            "serverPath": "/var/lib/postgresql/data"}  # fmt: skip
    backup = a_backup(mode="physical", data=data)
    backup["status"]["completionTime"] = ended
    return backup


def test_a_point_in_time_restore_of_a_physical_backup_is_refused_only_outside_its_window() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

    def at(point: str | None, backup: Any = None) -> str | None:
        spec = {"backup": "pg-1"} | ({"pointInTime": point} if point else {})
        return restore_problem({"spec": spec}, backup or physical_backup(), now)

    assert at(None) is None  # latest: to the end of the archive
    assert at("2026-12-06T09:00:00Z") is None
    assert at("2026-12-06T11:59:00Z") is None
    assert at("2026-12-06T08:59:59Z") == (
        "pointInTime 2026-12-06T08:59:59Z is before Backup pg-1 ended (2026-12-06T09:00:00Z): "
        "its WAL replays forward only; choose an older Backup of the schedule"
    )
    assert "is in the future" in str(at("2026-12-06T12:00:01Z"))
    assert "is logical" in str(at("2026-12-06T10:00:00Z", a_backup(mode="logical")))
    assert "is of kafka" in str(at("2026-12-06T10:00:00Z", a_backup("kafka")))
    chosen = {"spec": {"backup": "pg-1", "chosen": ["shop"]}}
    assert "restores the whole cluster" in str(restore_problem(chosen, physical_backup(), now))


def test_a_physical_restore_job_mounts_the_servers_claim_and_replays_to_the_point() -> None:
    backup = physical_backup()
    job = restore_job_for("pgback", "shop", backup, "img", to="2026-12-06T10:00:00Z")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    argv = container["command"]
    assert argv[argv.index("--to") + 1] == "2026-12-06T10:00:00Z"
    assert argv[argv.index("--data-dir") + 1] == "/store"
    assert argv[argv.index("--server-data-dir") + 1] == "/var/lib/postgresql/data"
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
              if "persistentVolumeClaim" in v}  # fmt: skip
    assert claims == {"storage": "backups-pg", "store-data": "data-postgres-0"}
    assert pod["securityContext"]["runAsUser"] == 999
    assert "affinity" not in pod  # the server is stopped: the claim is free
    latest = restore_job_for("pgback", "shop", backup, "img")
    assert "--to" not in latest["spec"]["template"]["spec"]["containers"][0]["command"]
    said = " ".join(replaced_by(backup, to="2026-12-06T10:00:00Z"))
    assert "recovered to 2026-12-06 10:00:00 UTC from the WAL archive" in said
    assert "kubectl scale statefulset postgres --replicas=0" in said


def test_a_physical_backup_job_runs_beside_the_server_as_its_user() -> None:
    store = physical_backup()["spec"]["store"]
    store["data"]["serverLabels"] = {"app.kubernetes.io/name": "postgres"}
    spec = {"store": store, "storage": {"pvc": {"claimName": "backups-postgres"}}}
    job = job_for("pgrun", "shop", spec, "img", BACKUP_ID)
    pod = job["spec"]["template"]["spec"]
    argv = pod["initContainers"][0]["command"]
    assert argv[argv.index("--mode") + 1] == "physical"
    assert "--data-dir" not in argv  # the server's claim is the restore's only
    assert pod["securityContext"]["runAsUser"] == 999
    (term,) = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": "postgres"}


def test_physical_backups_make_a_continuous_window() -> None:
    runs = [finished("a", "2026-12-06T01:00:00Z"), finished("b", "2026-12-06T03:00:00Z")]
    for run in runs:
        run["spec"] = {"store": {"kind": "postgres", "mode": "physical"}}
    assert recoverability(runs) == {
        "recoverableFrom": "2026-12-06T01:00:00Z",
        "recoverableTo": "2026-12-06T03:00:00Z",
        "recoverablePoints": 2,
        "recoverableContinuous": True,
    }
    runs[0]["spec"]["store"]["mode"] = "logical"
    assert "recoverableContinuous" not in recoverability(runs)
