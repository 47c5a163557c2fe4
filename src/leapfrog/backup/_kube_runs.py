"""The backup operator's decisions, with no cluster in sight: which schedule slot is due,
what a run's Backup and Job are called and hold, and what a Job's status means for its
Backup. `kube_operator` (kopf) applies them to the cluster."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leapfrog.backup.drivers import chooses_of
from leapfrog.backup.retention import Policy, plan_prune
from leapfrog.components import kube as k
from leapfrog.components._backups_kube import (
    BACKUP_LABEL,
    CREDENTIAL_ENV,
    GROUP,
    OPERATOR,
    RESTORE_LABEL,
    SCHEDULE_LABEL,
    VERSION,
)
from leapfrog.components.zookeeper import DATA as ZK_DATA

__all__ = [
    "JOB_BACKOFF_LIMIT",
    "RunState",
    "backup_for_slot",
    "backup_id_for",
    "backup_name",
    "backup_on_demand",
    "due_slot",
    "job_for",
    "keep_objects",
    "manifest_key",
    "physical_postgres",
    "recoverability",
    "replaced_by",
    "restore_for",
    "restore_job_for",
    "restore_problem",
    "run_state",
    "summary_status",
    "verified_state",
]

JOB_BACKOFF_LIMIT = 2
"""A run's Job retries its pod twice, then it is Failed: retries are bounded."""
MOUNT = "/backups"
TERMINATION_LOG = "/dev/termination-log"
"""Where a run's backup step writes its summary (`--summary-to`): the kubelet makes it
the container's termination message, which the operator reads into the Backup's status."""


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
    found = _backup_of(schedule, backup_name(schedule["metadata"]["name"], slot))
    found["spec"]["slot"] = slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return found


def backup_on_demand(
    schedule: dict[str, Any],
    now: datetime,
    deadline: int | None = None,
    chosen: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The Backup `leapfrog backup run --target kubernetes` creates: the schedule's, as
    a scheduled run would be (so its retention counts it), named after the second it was
    asked for (`<schedule>-<YYYYMMDDHHMMSS>`, never a slot's name), with the command's
    deadline and choice (`--topic`...) when given."""
    name = f"{schedule['metadata']['name'][:40]}-{now.astimezone(UTC):%Y%m%d%H%M%S}"
    found = _backup_of(schedule, name)
    if deadline is not None:
        found["spec"]["deadlineSeconds"] = deadline
    if chosen:
        found["spec"]["store"] = {**found["spec"]["store"], "chosen": list(chosen)}
    return found


def _backup_of(schedule: dict[str, Any], name: str) -> dict[str, Any]:
    meta = schedule["metadata"]
    spec = schedule["spec"]
    copied = {
        key: spec[key]
        for key in ("store", "storage", "encryption", "verify", "deadlineSeconds", "retention")
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
        "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels},
        "spec": {**copied, "schedule": meta["name"]},
    }


def backup_id_for(name: str, created: datetime) -> str:
    """The engine's id of a Backup object's run (`--id`): its schedule slot (or its own
    creation) to the second, and 4 hex digits of its name. Known before the Job starts,
    so the Backup's status names its manifest, a Restore finds it, and a second attempt
    of the same run finds the backup the first one took."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:4]
    return f"{created.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest}"


def main_port(store: dict[str, Any]) -> int:
    """The store's port the engine talks to: the one named as its kind, else the only
    one given, else the component's default."""
    ports: dict[str, int] = store.get("ports") or {}
    if store["kind"] in ports:
        return int(ports[store["kind"]])
    if len(ports) == 1:
        return int(next(iter(ports.values())))
    from leapfrog.components import component

    comp = component(store["kind"])
    return int(comp.port(comp.options({})))


def _other_ports(store: dict[str, Any]) -> dict[str, int]:
    """The store's ports besides the main one (named as its kind), by name: what the
    driver reaches at the same Service (InfluxDB's `rpc`, ZooKeeper's `admin`)."""
    ports: dict[str, int] = store.get("ports") or {}
    if store["kind"] not in ports:
        return {}
    return {name: int(number) for name, number in ports.items() if name != store["kind"]}


def store_name(spec: dict[str, Any]) -> str:
    """The store's name in the storage (`<name>/backups/<id>/`): its Service's name, as
    a local stack names it after the component."""
    return str(spec["store"]["service"])


def manifest_key(spec: dict[str, Any], backup_id: str) -> str:
    return f"{store_name(spec)}/backups/{backup_id}/manifest.json"


def _target(spec: dict[str, Any], namespace: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The options naming the store and its storage (`leapfrog.backup.remote`), and the
    environment holding the secrets (from Secrets, never as values)."""
    store = spec["store"]
    storage = spec["storage"]
    address = f"{store['service']}.{namespace}.svc:{main_port(store)}"
    args = [store_name(spec), "--store-kind", store["kind"], "--address", address]
    for port_name, number in _other_ports(store).items():
        args += ["--port", f"{port_name}={number}"]
    env: list[dict[str, Any]] = [{"name": "HOME", "value": "/tmp"}]
    if "pvc" in storage:
        args += ["--storage", MOUNT, "--history", f"{MOUNT}/.history"]
    else:
        s3 = storage["s3"]
        location = f"s3://{s3['bucket']}/{s3.get('prefix', '')}".rstrip("/")
        args += ["--storage", location, "--history", "/tmp/history"]
        args += ["--s3-region", s3.get("region", "us-east-1")]
        if "endpoint" in s3:
            args += ["--s3-endpoint", s3["endpoint"]]
        for variable, ref in (
            ("AWS_ACCESS_KEY_ID", "accessKey"),
            ("AWS_SECRET_ACCESS_KEY", "secretKey"),
        ):
            if ref in s3:
                secret = s3[ref]
                env.append(k.secret_env(variable, secret["name"], secret.get("key", "value")))
    credentials = store.get("credentials")
    if credentials is not None and store["kind"] in CREDENTIAL_ENV:
        env.append(
            k.secret_env(
                CREDENTIAL_ENV[store["kind"]], credentials["name"], credentials.get("key", "value")
            )
        )
    if "encryption" in spec:
        key = spec["encryption"]
        args += ["--encryption", key["name"]]
        env.append(k.secret_env("LEAPFROG_BACKUP_KEY", key["name"], key.get("key", "value")))
    return args, env


def _choice(kind: str, chosen: list[str]) -> list[str]:
    """`--topic NAME`... for each chosen name, by what the store's driver chooses."""
    found: list[str] = []
    if chosen:
        noun = chooses_of(kind)
        for name in chosen:
            found += [f"--{noun}", name]
    return found


PART_OF = "app.kubernetes.io/part-of"


def _pod_labels(labels: dict[str, str], owner: dict[str, Any] | None) -> dict[str, str]:
    """The Job's own labels, and the stack's `part-of` label of the Backup it runs
    (a schedule's runs have it): the stores' NetworkPolicies admit the stack's pods
    only, so a run's pod without it would never reach its store."""
    found = dict(labels)
    stack = ((owner or {}).get("labels") or {}).get(PART_OF)
    if stack:
        found[PART_OF] = str(stack)
    return found


def _job(  # noqa: PLR0917
    name: str,
    namespace: str,
    spec: dict[str, Any],
    image: str,
    steps: list[tuple[str, list[str]]],
    labels: dict[str, str],
    pod_labels: dict[str, str],
) -> dict[str, Any]:
    """A Job running `steps` (name, argv) one after the other in one pod: all but the
    last as init containers, so the Job is Complete only when every step succeeded;
    its pod labelled `pod_labels`."""
    _, env = _target(spec, namespace)
    volumes, mounts = k.empty_dirs("/tmp")
    if "pvc" in spec["storage"]:
        claim = spec["storage"]["pvc"]["claimName"]
        volumes.append({"name": "storage", "persistentVolumeClaim": {"claimName": claim}})
        mounts.append({"name": "storage", "mountPath": MOUNT})
    deadline = int(spec.get("deadlineSeconds", 6 * 3600))

    def container(step: str, argv: list[str]) -> dict[str, Any]:
        return {
            "name": step,
            "image": image,
            "command": argv,
            "env": env,
            "volumeMounts": mounts,
            "securityContext": k.container_security(),
            "resources": k.resources("100m", "256Mi", memory_limit="1Gi"),
            # A failed step's last lines (its JSON record) become its pod's message.
            "terminationMessagePolicy": "FallbackToLogsOnError",
        }

    containers = [container(step, argv) for step, argv in steps]
    pod = k.restricted_pod(10001, containers[-1:], volumes)
    if len(containers) > 1:
        pod["initContainers"] = containers[:-1]
    pod["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "backoffLimit": JOB_BACKOFF_LIMIT,
            # Counted from the Job's start, pods or not: a run that never starts fails too.
            "activeDeadlineSeconds": deadline,
            "template": {"metadata": {"labels": pod_labels}, "spec": pod},
        },
    }


def job_for(  # noqa: PLR0917
    name: str,
    namespace: str,
    spec: dict[str, Any],
    image: str,
    backup_id: str,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Job of one run: `leapfrog backup run` of the store at its in-cluster Service
    (no stack file: `--store-kind`, `--address`, `--storage`, ...), then `verify` of that
    backup, then `prune` by the schedule's retention; restricted, bounded in time and in
    retries. `meta`: the Backup's metadata (its pod joins the Backup's stack)."""
    store = spec["store"]
    target, _ = _target(spec, namespace)
    data = _server_data(store, restore=False)
    target += _data_args(store, data)
    deadline = int(spec.get("deadlineSeconds", 6 * 3600))
    run = ["leapfrog", "backup", "run", *target, "--id", backup_id, "--json"]
    run += ["--deadline", str(deadline), "--summary-to", TERMINATION_LOG]
    # Physical only when the schedule says so (its server archives WAL then): an
    # older schedule names no mode, and its server does not.
    mode = store.get("mode") or ("logical" if store["kind"] == "postgres" else None)
    if mode:
        run += ["--mode", mode]
    steps = [("backup", run + _choice(store["kind"], store.get("chosen", [])))]
    if spec.get("verify", True):
        # Verified is the Job's own word: the Job is Complete only when this passed.
        steps.append(
            ("verify", ["leapfrog", "backup", "verify", *target, "--backup", backup_id, "--json"])
        )
    retention = spec.get("retention")
    if retention:
        prune = ["leapfrog", "backup", "prune", *target, "--json"]
        for field_name, flag in RETENTION_FLAGS.items():
            if field_name in retention:
                prune += [flag, str(retention[field_name])]
        steps.append(("prune", prune))
    labels = {BACKUP_LABEL: name}
    if "schedule" in spec:
        labels[SCHEDULE_LABEL] = spec["schedule"]
    job = _job(name, namespace, spec, image, steps, labels, _pod_labels(labels, meta))
    if data is not None:
        _mount_store_data(job, store["kind"], data)
    elif physical_postgres(store) and "data" in store:
        # The server writes its WAL into the same claim: the run shares its node (a
        # ReadWriteOnce claim) and its user (the archive folder it makes is the server's).
        _beside_server(job, store["data"], beside=True)
    return job


def physical_postgres(store: dict[str, Any]) -> bool:
    """Whether the store is a PostgreSQL backed up physically (its WAL archived)."""
    return bool(store.get("kind") == "postgres" and store.get("mode", "logical") == "physical")


RETENTION_FLAGS = {
    "keepLast": "--keep-last",
    "keepDaily": "--keep-daily",
    "keepWeekly": "--keep-weekly",
    "keepMonthly": "--keep-monthly",
}


def backup_problem(spec: dict[str, Any]) -> str | None:
    """Why a Backup cannot run (a message for its status), or None."""
    store = spec["store"]
    chosen = store.get("chosen") or []
    if chosen and not chooses_of(store["kind"]):
        return f"a {store['kind']} backup is of the whole store: store.chosen names nothing"
    if physical_postgres(store) and ("pvc" not in spec["storage"] or "encryption" in spec):
        return (
            "a physical PostgreSQL backup on Kubernetes needs the WAL its server archives "
            "into a volume claim, unencrypted (storage.pvc, no encryption): take a logical "
            "one (store.mode: logical)"
        )
    return None


def restore_problem(
    restore: dict[str, Any], backup: dict[str, Any] | None, now: datetime | None = None
) -> str | None:
    """Why a Restore cannot run (a message for its status), or None; `now`: when it is
    asked (a pointInTime after it is refused)."""
    wanted = restore["spec"]["backup"]
    if backup is None:
        return f"there is no Backup {wanted} in this namespace"
    status = backup.get("status") or {}
    if status.get("phase") != "Succeeded":
        return f"Backup {wanted} is {status.get('phase') or 'Pending'}, not Succeeded"
    if not status.get("backupId"):
        return f"Backup {wanted} does not name the backup it took (made by an older operator)"
    store = backup["spec"]["store"]
    point = restore["spec"].get("pointInTime")
    if point:
        problem = _point_problem(backup, str(point), now or datetime.now(UTC))
        if problem is not None:
            return problem
    chosen = restore["spec"].get("chosen") or []
    if chosen and physical_postgres(store):
        return (
            f"Backup {wanted} is a physical PostgreSQL backup: it restores the whole "
            "cluster, chosen names nothing to choose from"
        )
    if chosen and not chooses_of(store["kind"]):
        return f"a {store['kind']} backup restores whole: chosen names nothing to choose from"
    if _reaches_files(store) and "data" not in store:
        return (
            f"a {store['kind']} restore reaches the server's files: Backup {wanted}'s store "
            "names no data claim to mount (store.data, which `leapfrog apply` renders)"
        )
    return None


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _point_problem(backup: dict[str, Any], point: str, now: datetime) -> str | None:
    """Why a Restore of `backup` cannot replay WAL to `point`, or None: only a physical
    PostgreSQL backup has WAL to replay, and only to a time after it ended (its base
    backup is consistent from there) and not after now (the archive ends at now)."""
    name = backup["metadata"]["name"]
    store = backup["spec"]["store"]
    if store["kind"] != "postgres":
        return f"pointInTime is for PostgreSQL only; Backup {name} is of {store['kind']}"
    if not physical_postgres(store):
        return (
            f"pointInTime needs a physical PostgreSQL backup with its WAL archive; Backup "
            f"{name} is logical (a logical backup restores as it was taken: leave out "
            "pointInTime, or choose a Backup of a schedule whose store.mode is physical)"
        )
    wanted = _time(point)
    ended = (backup.get("status") or {}).get("completionTime")
    if ended and wanted < _time(str(ended)):
        return (
            f"pointInTime {point} is before Backup {name} ended ({ended}): its WAL replays "
            "forward only; choose an older Backup of the schedule"
        )
    if wanted > now.astimezone(UTC):
        return (
            f"pointInTime {point} is in the future (now {now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ})"
        )
    return None


def replaced_by(
    backup: dict[str, Any], chosen_here: list[str] | None = None, to: str | None = None
) -> list[str]:
    """What a Restore of `backup` replaces, one line each, said before it is made (as
    the engine's drivers say it locally; the manifest is in the storage, so the names
    are those the Restore chooses, else those the run chose, else everything the
    backup holds); `to`: its pointInTime."""
    store = backup["spec"]["store"]
    status = backup.get("status") or {}
    names = chosen_here or store.get("chosen") or []
    chosen = ", ".join(names) or "every one the backup holds"
    where = f"{store['service']} ({store['kind']})"
    ended = str(status.get("completionTime") or "?").replace("T", " ").rstrip("Z")
    name = backup["metadata"]["name"]
    source = f"from Backup {name} ({status.get('backupId')}, ended {ended} UTC)"
    if store["kind"] == "kafka":
        return [
            f"deletes and recreates topics ({chosen}) on {where}: records written since the "
            "backup are lost",
            "sets the committed offsets of their consumer groups (their consumers must be stopped)",
            source,
        ]
    if physical_postgres(store):
        claim = (store.get("data") or {}).get("claimName", "?")
        point = f"to {to.replace('T', ' ').rstrip('Z')} UTC" if to else "to the newest archived WAL"
        return [
            f"replaces the whole data directory of {where} in its claim {claim} with the "
            f"base backup, recovered {point} from the WAL archive",
            f"{store['service']} must be stopped (kubectl scale statefulset {store['service']} "
            "--replicas=0), else the restore refuses; every change after that point is lost",
            source,
        ]
    if store["kind"] == "zookeeper":
        claim = (store.get("data") or {}).get("claimName", "?")
        return [
            f"replaces every snapshot and transaction log of {where} in its claim {claim} "
            "with the backup's snapshot; ephemeral nodes are not restored",
            f"{store['service']} must be stopped (kubectl scale statefulset {store['service']} "
            "--replicas=0), else the restore refuses; every change after the backup is lost",
            source,
        ]
    if store["kind"] == "opensearch":
        return [
            f"replaces indices ({chosen}) on {where}: each is deleted, then restored; other "
            "indices are left alone",
            source,
        ]
    if store["kind"] == "influxdb":
        return [
            f"replaces databases ({chosen}) on {where}: each is dropped and restored as the "
            "backup holds it; points written since are lost",
            source,
        ]
    return [
        f"replaces databases ({chosen}) on {where}: each is dropped and recreated "
        "(connections to it are closed)",
        source,
    ]


def restore_for(backup: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The Restore `leapfrog backup restore --target kubernetes` creates for `backup`:
    `<backup>-r<YYYYMMDDHHMMSS>` (its Job carries the name: at most 63 characters)."""
    meta = backup["metadata"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Restore",
        "metadata": {
            "name": f"{meta['name'][:40]}-r{now.astimezone(UTC):%Y%m%d%H%M%S}",
            "namespace": meta["namespace"],
            "labels": {"app.kubernetes.io/managed-by": OPERATOR},
        },
        "spec": {"backup": meta["name"]},
    }


def verified_state(backup: dict[str, Any]) -> str | None:
    """A Backup's verification as `leapfrog backup list` says it locally: succeeded,
    failed, or None (never verified: verify off, or no backup to verify)."""
    status = backup.get("status") or {}
    found = {c.get("type"): c for c in status.get("conditions") or []}.get("Verified")
    if found is None or found.get("reason") in ("NotRequested", "NoBackup"):
        return None
    return "succeeded" if found.get("status") == "True" else "failed"


def restore_job_for(  # noqa: PLR0917
    name: str,
    namespace: str,
    backup: dict[str, Any],
    image: str,
    chosen: list[str] | None = None,
    to: str | None = None,
) -> dict[str, Any]:
    """The Job of a Restore: `leapfrog backup restore --backup ID --yes` of the Backup's
    store, from the Backup's storage, with the Backup's deadline; limited to the
    Restore's `chosen` (else what the Backup's run chose, else all it holds); `to`: its
    pointInTime (`--to`: the engine replays the WAL archive up to it)."""
    spec = backup["spec"]
    store = spec["store"]
    target, _ = _target(spec, namespace)
    backup_id = backup["status"]["backupId"]
    argv = ["leapfrog", "backup", "restore", *target, "--backup", backup_id, "--yes", "--json"]
    if to:
        argv += ["--to", to]
    argv += _choice(store["kind"], chosen or store.get("chosen", []))
    data = _server_data(store, restore=True)
    argv += _data_args(store, data)
    labels = {RESTORE_LABEL: name}
    pod_labels = _pod_labels(labels, backup.get("metadata"))
    job = _job(name, namespace, spec, image, [("restore", argv)], labels, pod_labels)
    if data is not None:
        _mount_store_data(job, store["kind"], data)
    return job


STORE_MOUNT = "/store"
_DATA_LAYOUT = {
    "zookeeper": (ZK_DATA, False, False),
    "opensearch": ("", True, True),
    "postgres": ("", False, True),
}
"""Per store whose Jobs reach the server's own files (the Backup's `store.data` claim):
where, under the driver's data directory (STORE_MOUNT), it finds what the claim holds
(the ZooKeeper pod's /data, its dataDir; OpenSearch's and PostgreSQL's whole data
directory), whether every Job needs it while the server runs (OpenSearch: its
snapshot repository is under the node's `path.repo`, which the driver reads and
fills) or only a restore with the server stopped (ZooKeeper; a physical PostgreSQL
restore, which replaces its data directory), and whether the driver is told where
the server has it (`--server-data-dir`: OpenSearch names paths under it to the
server; PostgreSQL's restore takes it as the word that the claim is mounted)."""


def _reaches_files(store: dict[str, Any]) -> bool:
    """Whether a restore of this store replaces the server's files (mounts its claim)."""
    if store["kind"] == "postgres":
        return physical_postgres(store)
    return store["kind"] in _DATA_LAYOUT


def _server_data(store: dict[str, Any], restore: bool) -> dict[str, Any] | None:
    """The server's claim, when this Job mounts it."""
    layout = _DATA_LAYOUT.get(store["kind"])
    data: dict[str, Any] | None = store.get("data")
    if layout is None or data is None or not _reaches_files(store):
        return None
    if not (restore or layout[1]):
        return None
    return data


def _data_args(store: dict[str, Any], data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return []
    args = ["--data-dir", STORE_MOUNT]
    if _DATA_LAYOUT[store["kind"]][2] and data.get("serverPath"):
        args += ["--server-data-dir", str(data["serverPath"])]
    return args


def _mount_store_data(job: dict[str, Any], kind: str, data: dict[str, Any]) -> None:
    """The server's claim in the Job's pod (every container), where the driver reaches
    the server's files, and the pod run as the server's user, so what it writes is the
    server's as its own is (a hostPath or local volume gets no fsGroup ownership
    change). A Job beside a running server is placed on the server's node: a
    ReadWriteOnce claim is mounted on one node only."""
    folder, beside, _ = _DATA_LAYOUT[kind]
    pod = job["spec"]["template"]["spec"]
    pod["volumes"].append(
        {"name": "store-data", "persistentVolumeClaim": {"claimName": data["claimName"]}}
    )
    mount = {"name": "store-data", "mountPath": f"{STORE_MOUNT}/{folder}".rstrip("/")}
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        # a list of its own: `_job`'s containers share theirs
        container["volumeMounts"] = [*container["volumeMounts"], dict(mount)]
    _beside_server(job, data, beside)


def _beside_server(job: dict[str, Any], data: dict[str, Any], beside: bool) -> None:
    """The Job's pod run as the server's user and, when `beside` (it runs while the
    server does, sharing a ReadWriteOnce claim with it), on the server's node."""
    pod = job["spec"]["template"]["spec"]
    if beside and data.get("serverLabels"):
        pod["affinity"] = {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": dict(data["serverLabels"])},
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        }
    pod["securityContext"] = k.pod_security(int(data["runAsUser"]))


_SUMMARY_FIELDS = {"size": int, "rawSize": int, "objects": int, "position": str}


def summary_status(pod: dict[str, Any], backup_id: str | None) -> dict[str, Any] | None:
    """What a run's pod says of the backup it took (its `backup` container's termination
    message: `manifest.summary_of`) as the Backup's status fields (size, rawSize,
    objects, position); None while it says nothing, or of another backup than
    `backup_id` (a message that is not a summary is a failure's log lines)."""
    import json

    status = pod.get("status") or {}
    statuses = [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]
    for container in statuses:
        if container.get("name") != "backup":
            continue
        ended = (container.get("state") or {}).get("terminated") or {}
        if ended.get("exitCode") != 0 or not ended.get("message"):
            return None
        try:
            said = json.loads(ended["message"])
        except ValueError:
            return None
        if not isinstance(said, dict) or said.get("backupId") != backup_id:
            return None
        found = {
            key: kind(said[key])
            for key, kind in _SUMMARY_FIELDS.items()
            if isinstance(said.get(key), kind) and not isinstance(said.get(key), bool)
        }
        return found or None
    return None


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


@dataclass(frozen=True)
class _Run:
    """A finished Backup object as the retention rules see it."""

    id: str
    ended: datetime
    phase: str
    verified: bool | None


def _finished(backups: list[dict[str, Any]]) -> list[_Run]:
    found = []
    for backup in backups:
        status = backup.get("status") or {}
        if status.get("phase") not in ("Succeeded", "Failed") or not status.get("completionTime"):
            continue
        verified = {c.get("type"): c for c in status.get("conditions") or []}.get("Verified")
        word = None
        if verified is not None and verified.get("reason") != "NotRequested":
            word = verified.get("status") == "True"
        ended = datetime.fromisoformat(str(status["completionTime"]).replace("Z", "+00:00"))
        found.append(_Run(backup["metadata"]["name"], ended, status["phase"], word))
    return found


def _policy(retention: dict[str, Any]) -> Policy:
    return Policy(
        keep_last=int(retention.get("keepLast", 7)),
        keep_daily=int(retention.get("keepDaily", 0)),
        keep_weekly=int(retention.get("keepWeekly", 0)),
        keep_monthly=int(retention.get("keepMonthly", 0)),
    )


def keep_objects(backups: list[dict[str, Any]], retention: dict[str, Any]) -> list[str]:
    """The names of a schedule's Backup objects to delete: Succeeded ones the retention
    rules would not keep (the same rules, `plan_prune`, as the run's `prune` applies to
    the stored backups), and Failed ones older than the oldest Succeeded one kept.
    Pending and Running ones are never deleted."""
    finished = _finished(backups)
    good = [run for run in finished if run.phase == "Succeeded"]
    if not good:
        return []
    plan = plan_prune(good, _policy(retention), {run.id: run.verified for run in good})
    oldest = min(run.ended for run in plan.keep)
    failed = [run for run in finished if run.phase == "Failed" and run.ended < oldest]
    return sorted(run.id for run in [*plan.delete, *failed])


def recoverability(backups: list[dict[str, Any]]) -> dict[str, Any]:
    """The schedule's recoverability window from its Backup objects: the store can be
    put back as it was at any of `recoverablePoints` times from `recoverableFrom` (the
    oldest Succeeded backup whose verification did not fail) to `recoverableTo` (the
    newest). Physical PostgreSQL backups have their WAL archive between them:
    `recoverableContinuous`, any time from `recoverableFrom` on (each run proved the
    archive holds the WAL up to its end: it waited for its segment there)."""
    good = [
        run for run in _finished(backups) if run.phase == "Succeeded" and run.verified is not False
    ]
    if not good:
        return {"recoverablePoints": 0}
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    found: dict[str, Any] = {
        "recoverableFrom": min(run.ended for run in good).astimezone(UTC).strftime(stamp),
        "recoverableTo": max(run.ended for run in good).astimezone(UTC).strftime(stamp),
        "recoverablePoints": len(good),
    }
    names = {run.id for run in good}
    runs = [b for b in backups if b["metadata"]["name"] in names]
    if runs and all(physical_postgres((b.get("spec") or {}).get("store") or {}) for b in runs):
        found["recoverableContinuous"] = True
    return found


def restore_state(job_status: dict[str, Any] | None, now: datetime) -> RunState:
    """A Restore's status from its Job's, as `run_state` reads a Backup's: Succeeded only
    on the Job's `Complete`, Failed with the Job controller's reason."""
    state = run_state(job_status, False, now)
    completed = [c for c in state.conditions if c["type"] == "Completed"]
    for condition in completed:
        if condition["status"] == "True":
            condition["message"] = "the backup was put back"
    messages = {
        "Succeeded": "the backup was put back",
        "Running": "the restore Job's pod is running",
        "Pending": "waiting for the restore Job's pod to start",
    }
    message = messages.get(state.phase, state.message)
    return RunState(state.phase, message, state.start, state.completion, completed)
