"""The backup operator's decisions, with no cluster in sight: which schedule slot is due,
what a run's Backup and Job are called and hold, and what a Job's status means for its
Backup. `kube_operator` (kopf) applies them to the cluster."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leapfrog.components import kube as k
from leapfrog.components._backups_kube import (
    BACKUP_LABEL,
    GROUP,
    OPERATOR,
    SCHEDULE_LABEL,
    VERSION,
)

__all__ = [
    "JOB_BACKOFF_LIMIT",
    "RunState",
    "backup_for_slot",
    "backup_name",
    "due_slot",
    "job_for",
    "run_state",
]

JOB_BACKOFF_LIMIT = 2
"""A run's Job retries its pod twice, then it is Failed: retries are bounded."""
MOUNT = "/backups"


def due_slot(cron: str, now: datetime, created: datetime) -> datetime | None:
    """The newest time of `cron` at or before `now`, if it is not before `created` (the
    schedule's own creation: times before it are not replayed); else None. Only the
    newest is ever due, so times missed while the operator was down run once, not in a
    burst."""
    from croniter import croniter

    slot: datetime = croniter(cron, now.astimezone(UTC)).get_prev(datetime)
    if croniter.match(cron, now.astimezone(UTC).replace(second=0, microsecond=0)):
        slot = now.astimezone(UTC).replace(second=0, microsecond=0)
    return slot if slot >= created.astimezone(UTC) else None


def backup_name(schedule: str, slot: datetime) -> str:
    """`<schedule>-<YYYYMMDDHHMM>`: one name per slot, so a second look (a restarted
    operator) finds the run instead of starting another. Kept to 63 characters, since
    the run's Job carries the same name and a Job's name becomes a label value."""
    name = f"{schedule}-{slot.astimezone(UTC):%Y%m%d%H%M}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{schedule[: 63 - 22]}-{digest}-{slot.astimezone(UTC):%y%m%d%H%M}"


def backup_for_slot(schedule: dict[str, Any], slot: datetime) -> dict[str, Any]:
    """The Backup a BackupSchedule object creates for `slot`: its own copy of the store,
    storage, encryption and limits (a later edit of the schedule changes later runs)."""
    meta = schedule["metadata"]
    spec = schedule["spec"]
    copied = {
        key: spec[key]
        for key in ("store", "storage", "encryption", "verify", "deadlineSeconds")
        if key in spec
    }
    labels = {
        key: value
        for key, value in (meta.get("labels") or {}).items()
        if key.startswith("app.kubernetes.io/")
    }
    labels[SCHEDULE_LABEL] = meta["name"]
    labels["app.kubernetes.io/component"] = "backup"
    # Not `leapfrog`: `leapfrog apply --prune` must never take a run (or its Job, which
    # gets these labels through kopf.adopt) for an object the stack no longer renders.
    labels["app.kubernetes.io/managed-by"] = OPERATOR
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Backup",
        "metadata": {
            "name": backup_name(meta["name"], slot),
            "namespace": meta["namespace"],
            "labels": labels,
        },
        "spec": {
            **copied,
            "schedule": meta["name"],
            "slot": slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }


def job_for(name: str, namespace: str, spec: dict[str, Any], image: str) -> dict[str, Any]:
    """The Job of one run: `leapfrog backup run <store>` in the leapfrog image against the
    store's in-cluster Service, the storage mounted (claim) or named (S3, credentials from
    Secrets), the key from its Secret; restricted, bounded in time and in retries."""
    store = spec["store"]
    storage = spec["storage"]
    deadline = int(spec.get("deadlineSeconds", 6 * 3600))
    command = ["leapfrog", "backup", "run", store["kind"], "--json", "--deadline", str(deadline)]
    if "mode" in store:
        command += ["--mode", store["mode"]]
    flag = {"kafka": "--topic", "opensearch": "--index"}.get(store["kind"], "--database")
    for chosen in store.get("chosen", []):
        command += [flag, chosen]
    ports = store.get("ports", {})
    env: list[dict[str, Any]] = [
        {"name": "LEAPFROG_BACKUP_STORE", "value": store["kind"]},
        {"name": "LEAPFROG_BACKUP_HOST", "value": f"{store['service']}.{namespace}.svc"},
        *(
            {"name": f"LEAPFROG_BACKUP_PORT_{port.upper()}", "value": str(number)}
            for port, number in sorted(ports.items())
        ),
        {"name": "LEAPFROG_BACKUP_VERIFY", "value": "1" if spec.get("verify", True) else "0"},
    ]
    volumes, mounts = k.empty_dirs("/tmp")
    if "pvc" in storage:
        env.append({"name": "LEAPFROG_BACKUP_STORAGE", "value": MOUNT})
        volumes.append(
            {"name": "storage", "persistentVolumeClaim": {"claimName": storage["pvc"]["claimName"]}}
        )
        mounts.append({"name": "storage", "mountPath": MOUNT})
    else:
        s3 = storage["s3"]
        location = f"s3://{s3['bucket']}/{s3.get('prefix', '')}".rstrip("/")
        env.append({"name": "LEAPFROG_BACKUP_STORAGE", "value": location})
        env.append({"name": "AWS_REGION", "value": s3.get("region", "us-east-1")})
        if "endpoint" in s3:
            env.append({"name": "AWS_ENDPOINT_URL_S3", "value": s3["endpoint"]})
        for variable, ref in (
            ("AWS_ACCESS_KEY_ID", "accessKey"),
            ("AWS_SECRET_ACCESS_KEY", "secretKey"),
        ):
            if ref in s3:
                secret = s3[ref]
                env.append(k.secret_env(variable, secret["name"], secret.get("key", "value")))
    if "encryption" in spec:
        key = spec["encryption"]
        env.append(k.secret_env("LEAPFROG_BACKUP_KEY", key["name"], key.get("key", "value")))

    def container(name: str, argv: list[str]) -> dict[str, Any]:
        return {
            "name": name,
            "image": image,
            "command": argv,
            "env": env,
            "volumeMounts": mounts,
            "securityContext": k.container_security(),
            "resources": k.resources("100m", "256Mi", memory_limit="1Gi"),
        }

    if spec.get("verify", True):
        # The backup first (an init container), then its verification: the Job is
        # Complete only when both succeeded, so Verified is the Job's own word.
        verify = ["leapfrog", "backup", "verify", store["kind"], "--json"]
        pod = k.restricted_pod(10001, [container("verify", verify)], volumes)
        pod["initContainers"] = [container("backup", command)]
    else:
        pod = k.restricted_pod(10001, [container("backup", command)], volumes)
    pod["restartPolicy"] = "Never"
    labels = {BACKUP_LABEL: name}
    if "schedule" in spec:
        labels[SCHEDULE_LABEL] = spec["schedule"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "backoffLimit": JOB_BACKOFF_LIMIT,
            # Counted from the Job's start, pods or not: a run that never starts fails too.
            "activeDeadlineSeconds": deadline,
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


@dataclass(frozen=True)
class RunState:
    """What a Backup's status says, read from its Job."""

    phase: str
    message: str
    start: str | None = None
    completion: str | None = None
    conditions: list[dict[str, str]] = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        found: dict[str, Any] = {"phase": self.phase, "message": self.message}
        if self.start:
            found["startTime"] = self.start
        if self.completion:
            found["completionTime"] = self.completion
        if self.conditions:
            found["conditions"] = self.conditions
        return found


def _condition(job_status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in job_status.get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def run_state(job_status: dict[str, Any] | None, verify: bool, now: datetime) -> RunState:
    """The Backup's phase from its Job's status, honestly: Succeeded only on the Job's
    `Complete`; its `Failed` (deadline exceeded, retries used up) is Failed with the Job
    controller's reason and message; pods running is Running; else Pending."""
    status = job_status or {}
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    start = status.get("startTime")
    failed = _condition(status, "Failed")
    if failed is not None:
        reason = failed.get("reason") or "Failed"
        why = failed.get("message") or "the Job failed"
        at = failed.get("lastTransitionTime") or stamp
        return RunState(
            "Failed",
            f"{reason}: {why}",
            start,
            at,
            [
                {
                    "type": "Completed",
                    "status": "False",
                    "reason": reason,
                    "message": why,
                    "lastTransitionTime": at,
                },
                {
                    "type": "Verified",
                    "status": "False",
                    "reason": "NoBackup",
                    "message": "the backup failed",
                    "lastTransitionTime": at,
                },
            ],
        )
    complete = _condition(status, "Complete")
    if complete is not None:
        at = status.get("completionTime") or complete.get("lastTransitionTime") or stamp
        verified = (
            {
                "type": "Verified",
                "status": "True",
                "reason": "Restored",
                "message": "restored into a scratch server and compared",
                "lastTransitionTime": at,
            }
            if verify
            else {
                "type": "Verified",
                "status": "False",
                "reason": "NotRequested",
                "message": "verify is off",
                "lastTransitionTime": at,
            }
        )
        return RunState(
            "Succeeded",
            "the backup was written, read back and verified"
            if verify
            else "the backup was written and read back",
            start,
            at,
            [
                {
                    "type": "Completed",
                    "status": "True",
                    "reason": "JobComplete",
                    "message": "every object written and read back",
                    "lastTransitionTime": at,
                },
                verified,
            ],
        )
    if status.get("active"):
        return RunState("Running", "the backup Job's pod is running", start)
    return RunState("Pending", "waiting for the backup Job's pod to start", start)
