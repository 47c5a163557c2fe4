"""The backup operator's decisions without a cluster: due slots, run names, the run's
Job, and a Job's status read into its Backup's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import kubernetes_validate
import pytest

from leapfrog.backup._kube_runs import (
    JOB_BACKOFF_LIMIT,
    backup_for_slot,
    backup_name,
    due_slot,
    job_for,
    run_state,
)

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
    assert spec["storage"] == S3_SPEC["storage"] and "retention" not in spec


def test_the_job_runs_backup_then_verify_restricted_and_bounded() -> None:
    job = job_for("kafka-202612060900", "prod", S3_SPEC, "reg/leapfrog:1.0")
    kubernetes_validate.validate(job, "1.37.0", strict=True)
    spec = job["spec"]
    assert spec["backoffLimit"] == JOB_BACKOFF_LIMIT
    assert spec["activeDeadlineSeconds"] == 600
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    (backup,) = pod["initContainers"]
    (verify,) = pod["containers"]
    assert backup["command"] == [
        "leapfrog", "backup", "run", "kafka", "--json", "--deadline", "600",
        "--topic", "orders", "--topic", "pay*",
    ]  # fmt: skip
    assert verify["command"] == ["leapfrog", "backup", "verify", "kafka", "--json"]
    for container in (backup, verify):
        assert container["image"] == "reg/leapfrog:1.0"
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in backup["env"]}
    assert env["LEAPFROG_BACKUP_HOST"]["value"] == "kafka.prod.svc"
    assert env["LEAPFROG_BACKUP_PORT_KAFKA"]["value"] == "9092"
    assert env["LEAPFROG_BACKUP_STORAGE"]["value"] == "s3://backups/prod"
    assert env["AWS_ENDPOINT_URL_S3"]["value"] == "http://s3:9000"
    # credentials and the key come from Secrets, never as values
    for name, secret in (("AWS_ACCESS_KEY_ID", "s3-access"),
                         ("AWS_SECRET_ACCESS_KEY", "s3-secret"),
                         ("LEAPFROG_BACKUP_KEY", "kafka-key")):  # fmt: skip
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": "value"}
        assert "value" not in env[name]
    assert job["metadata"]["labels"] == {
        "leapfrog.dev/backup": "kafka-202612060900",
        "leapfrog.dev/schedule": "kafka",
    }


def test_a_claim_is_mounted_and_without_verify_there_is_one_container() -> None:
    spec = {
        "store": {"kind": "postgres", "service": "postgres", "mode": "logical"},
        "storage": {"pvc": {"claimName": "backups-postgres"}},
        "verify": False,
    }
    job = job_for("pg-1", "prod", spec, "img")
    kubernetes_validate.validate(job, "1.37.0", strict=True)
    pod = job["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    (container,) = pod["containers"]
    assert container["command"][-2:] == ["--mode", "logical"]
    assert {"name": "storage", "mountPath": "/backups"} in container["volumeMounts"]
    claim = next(v for v in pod["volumes"] if v["name"] == "storage")
    assert claim["persistentVolumeClaim"] == {"claimName": "backups-postgres"}
    assert job["spec"]["activeDeadlineSeconds"] == 6 * 3600


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
