"""The backup operator on Kubernetes, as objects: the `leapfrog.dev` custom resources
(`BackupSchedule`, `Backup`, `Restore`), the operator's Deployment with its least-privilege
RBAC, and a `BackupSchedule` per store that declares `backups:` (docs/backup.md,
"On Kubernetes").

The operator itself (kopf handlers) is `leapfrog.backup.kube_operator`; it reads what is
defined here (group, version, plurals), so both sides agree on one schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leapfrog.components import _opensearch_kube as opensearch_kube
from leapfrog.components import _zookeeper_kube as zookeeper_kube
from leapfrog.components import kube as k
from leapfrog.components._backup_options import BackupOptions, parse_s3_url
from leapfrog.components._postgres_kube_archive import storage_claim

__all__ = [
    "BACKUP_LABEL",
    "CREDENTIAL_ENV",
    "GROUP",
    "OPERATOR",
    "OPERATOR_UID",
    "PLURALS",
    "RESTORE_LABEL",
    "SCHEDULE_LABEL",
    "STORE_DATA",
    "STORE_KINDS",
    "VERSION",
    "backup_schedule",
    "crds",
    "operator_objects",
    "schedule_schema",
]

GROUP = "leapfrog.dev"
VERSION = "v1alpha1"
PLURALS = {"BackupSchedule": "backupschedules", "Backup": "backups", "Restore": "restores"}
OPERATOR = "backup-operator"
OPERATOR_UID = 10001
SCHEDULE_LABEL = f"{GROUP}/schedule"
BACKUP_LABEL = f"{GROUP}/backup"
RESTORE_LABEL = f"{GROUP}/restore"
CREDENTIAL_ENV = {"postgres": "PGPASSWORD"}
"""Where a run's Job puts the store's `credentials` Secret: the variable its client
reads (libpq's PGPASSWORD for the PostgreSQL superuser)."""
STORE_KINDS = ("postgres", "kafka", "zookeeper", "opensearch", "influxdb")
"""Stores with a backup driver (leapfrog.backup.drivers)."""

STORE_DATA = {
    "zookeeper": (zookeeper_kube.NAME, zookeeper_kube.UID, "/data"),
    "opensearch": (opensearch_kube.NAME, opensearch_kube.UID, opensearch_kube.DATA),
}
"""Stores whose backup Jobs reach the server's own files (ZooKeeper's restore replaces
them; OpenSearch's snapshot repository is under its data): their StatefulSet (its one
pod's claim `data-<name>-0` holds the data), the user its server runs as, and where
the server mounts that claim."""

SECRET_KEY = "value"
"""A secret the stack names (`encryption: pg-key`) is, on Kubernetes, the Secret of that
name in the namespace, its value under this key (`kubectl create secret generic pg-key
--from-file=value=...`)."""

_NAME = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_CRON = r"^\S+( \S+){4}$"


def _secret_ref() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": _NAME, "maxLength": 253},
            "key": {"type": "string", "default": SECRET_KEY, "minLength": 1},
        },
    }


def _store() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The store to back up: its component kind and its in-cluster Service.",
        "required": ["kind", "service"],
        "properties": {
            "kind": {"type": "string", "enum": list(STORE_KINDS)},
            "service": {"type": "string", "pattern": _NAME, "maxLength": 63},
            "ports": {
                "type": "object",
                "description": "The Service's ports its Jobs reach, by name: the main one "
                "named as the kind, the others as the component's option without `_port` "
                "(`rpc`: InfluxDB's RPC, `admin`: ZooKeeper's AdminServer).",
                "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 65535},
            },
            "mode": {"type": "string", "enum": ["physical", "logical"]},
            "chosen": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "credentials": {
                **_secret_ref(),
                "description": "Secret with the password the run logs in with "
                "(PostgreSQL: the superuser's).",
            },
            "data": {
                "type": "object",
                "description": "The server's own data volume claim and user: a Job that reaches "
                "the server's files (a ZooKeeper restore; every OpenSearch Job; a physical "
                "PostgreSQL restore) mounts it, as that user.",
                "required": ["claimName", "runAsUser"],
                "properties": {
                    "claimName": {"type": "string", "pattern": _NAME},
                    "runAsUser": {"type": "integer", "minimum": 1},
                    "serverPath": {
                        "type": "string",
                        "pattern": "^/",
                        "description": "Where the server mounts the claim.",
                    },
                    "serverLabels": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "The server's pod labels: a Job mounting the claim "
                        "while the server runs is placed on its node (a ReadWriteOnce claim).",
                    },
                },
            },
        },
    }


def _storage() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Where the objects go: an S3-compatible bucket or a volume claim.",
        "properties": {
            "s3": {
                "type": "object",
                "required": ["bucket"],
                "properties": {
                    "bucket": {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"},
                    "prefix": {"type": "string"},
                    "endpoint": {"type": "string", "pattern": "^https?://"},
                    "region": {"type": "string", "default": "us-east-1"},
                    "accessKey": _secret_ref(),
                    "secretKey": _secret_ref(),
                },
            },
            "pvc": {
                "type": "object",
                "required": ["claimName"],
                "properties": {"claimName": {"type": "string", "pattern": _NAME}},
            },
        },
        "x-kubernetes-validations": [
            {
                "rule": "has(self.s3) != has(self.pvc)",
                "message": "storage takes exactly one of s3 (a bucket) and pvc (a claim)",
            }
        ],
    }


def _retention() -> dict[str, Any]:
    def count(minimum: int, default: int) -> dict[str, Any]:
        return {"type": "integer", "minimum": minimum, "default": default}

    return {
        "type": "object",
        "properties": {
            "keepLast": count(1, 7),
            "keepDaily": count(0, 0),
            "keepWeekly": count(0, 0),
            "keepMonthly": count(0, 0),
        },
    }


def _run_fields() -> dict[str, Any]:
    """What a schedule hands each Backup it creates."""
    return {
        "store": _store(),
        "storage": _storage(),
        "encryption": {**_secret_ref(), "description": "Secret holding the AES-256 key."},
        "verify": {"type": "boolean", "default": True},
        "deadlineSeconds": {
            "type": "integer",
            "minimum": 1,
            "maximum": 7 * 24 * 3600,
            "default": 6 * 3600,
            "description": "The Job's activeDeadlineSeconds: a run past it is Failed.",
        },
    }


def schedule_schema() -> dict[str, Any]:
    """The BackupSchedule's openAPIV3Schema (also what the unit tests check renders by)."""
    return _schemas()["BackupSchedule"]


def _conditions() -> dict[str, Any]:
    return {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "required": ["type", "status"],
            "properties": {
                "type": {"type": "string"},
                "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                "reason": {"type": "string"},
                "message": {"type": "string"},
                "lastTransitionTime": {"type": "string", "format": "date-time"},
            },
        },
    }


def _status(extra: Mapping[str, Any]) -> dict[str, Any]:
    # kopf keeps its own progress under status.kopf.
    return {
        "type": "object",
        "properties": {
            "kopf": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            **extra,
        },
    }


def _schemas() -> dict[str, dict[str, Any]]:
    time = {"type": "string", "format": "date-time"}
    phase = {"type": "string", "enum": ["Pending", "Running", "Succeeded", "Failed"]}
    schedule_spec = {
        "type": "object",
        "required": ["store", "storage"],
        "properties": {
            **_run_fields(),
            "schedule": {
                "type": "string",
                "pattern": _CRON,
                "description": "Cron (5 fields, UTC); without it, backups only on demand.",
            },
            "suspend": {"type": "boolean", "default": False},
            "retention": _retention(),
        },
    }
    backup_spec = {
        "type": "object",
        "required": ["store", "storage"],
        "properties": {
            **_run_fields(),
            "schedule": {"type": "string", "description": "The BackupSchedule it came from."},
            "retention": _retention(),
            "slot": {**time, "description": "The schedule's time this run is for."},
        },
        "x-kubernetes-validations": [
            {"rule": "self == oldSelf", "message": "a Backup's spec cannot change"}
        ],
    }
    restore_spec = {
        "type": "object",
        "required": ["backup"],
        "properties": {
            "backup": {"type": "string", "pattern": _NAME, "description": "The Backup to restore."},
            "pointInTime": {**time, "description": "PostgreSQL only: replay WAL up to here."},
            "chosen": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "description": "Only these topics (Kafka), indices (OpenSearch) or databases "
                "(PostgreSQL, InfluxDB): names or shell patterns; default: what the backup "
                "holds.",
            },
        },
        "x-kubernetes-validations": [
            {"rule": "self == oldSelf", "message": "a Restore's spec cannot change"}
        ],
    }
    return {
        "BackupSchedule": _object(
            schedule_spec,
            _status(
                {
                    "lastScheduleTime": time,
                    "lastBackup": {"type": "string"},
                    "lastSuccessfulTime": time,
                    "recoverableFrom": {
                        **time,
                        "description": "The oldest verified backup kept: the store can be "
                        "put back as it was at each backup from here ...",
                    },
                    "recoverableTo": {**time, "description": "... to the newest one."},
                    "recoverablePoints": {"type": "integer", "minimum": 0},
                    "recoverableContinuous": {
                        "type": "boolean",
                        "description": "PostgreSQL physical backups with their WAL "
                        "archive: any time from recoverableFrom on, not only each backup's.",
                    },
                    "message": {"type": "string"},
                }
            ),
        ),
        "Backup": _object(
            backup_spec,
            _status(
                {
                    "phase": phase,
                    "job": {"type": "string"},
                    "backupId": {"type": "string", "description": "The engine's backup id."},
                    "startTime": time,
                    "completionTime": time,
                    "size": {
                        "type": "integer",
                        "format": "int64",
                        "minimum": 0,
                        "description": "Bytes stored (compressed, encrypted).",
                    },
                    "rawSize": {
                        "type": "integer",
                        "format": "int64",
                        "minimum": 0,
                        "description": "Bytes as the store produced them.",
                    },
                    "objects": {"type": "integer", "minimum": 0},
                    "manifest": {"type": "string"},
                    "position": {
                        "type": "string",
                        "description": "The store's position at the backup (WAL range, "
                        "offsets, zxid, snapshot), in one line.",
                    },
                    "message": {"type": "string"},
                    "conditions": _conditions(),
                }
            ),
        ),
        "Restore": _object(
            restore_spec,
            _status(
                {
                    "phase": phase,
                    "job": {"type": "string"},
                    "startTime": time,
                    "completionTime": time,
                    "message": {"type": "string"},
                    "conditions": _conditions(),
                }
            ),
        ),
    }


def _object(spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


_COLUMNS: dict[str, list[dict[str, str]]] = {
    "BackupSchedule": [
        {"name": "Store", "type": "string", "jsonPath": ".spec.store.service"},
        {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
        {"name": "Last Backup", "type": "string", "jsonPath": ".status.lastBackup"},
        {"name": "Last Success", "type": "date", "jsonPath": ".status.lastSuccessfulTime"},
        {"name": "Recoverable From", "type": "date", "jsonPath": ".status.recoverableFrom"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ],
    "Backup": [
        {"name": "Store", "type": "string", "jsonPath": ".spec.store.service"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Size", "type": "integer", "jsonPath": ".status.size"},
        {"name": "Objects", "type": "integer", "jsonPath": ".status.objects"},
        {"name": "Position", "type": "string", "jsonPath": ".status.position"},
        {"name": "Started", "type": "date", "jsonPath": ".status.startTime"},
        {"name": "Completed", "type": "date", "jsonPath": ".status.completionTime"},
        {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": "1"},
    ],
    "Restore": [
        {"name": "Backup", "type": "string", "jsonPath": ".spec.backup"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": "1"},
    ],
}


def crds(kube: k.KubeContext) -> list[k.Manifest]:
    """The three CustomResourceDefinitions (cluster-scoped; the resources are namespaced)."""
    found = []
    for kind, schema in _schemas().items():
        plural = PLURALS[kind]
        columns = []
        for column in _COLUMNS[kind]:
            entry: dict[str, Any] = dict(column)
            if "priority" in entry:
                entry["priority"] = int(entry["priority"])
            columns.append(entry)
        meta = kube.meta(f"{plural}.{GROUP}", "backup-operator", app=OPERATOR)
        del meta["namespace"]
        found.append(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": meta,
                "spec": {
                    "group": GROUP,
                    "scope": "Namespaced",
                    "names": {
                        "kind": kind,
                        "listKind": f"{kind}List",
                        "plural": plural,
                        "singular": kind.lower(),
                        "categories": ["leapfrog"],
                    },
                    "versions": [
                        {
                            "name": VERSION,
                            "served": True,
                            "storage": True,
                            "schema": {"openAPIV3Schema": schema},
                            "subresources": {"status": {}},
                            "additionalPrinterColumns": columns,
                        }
                    ],
                },
            }
        )
    return found


def operator_objects(
    kube: k.KubeContext, interval: int, metrics_port: int = 9612
) -> list[k.Manifest]:
    """ServiceAccount, Role, RoleBinding and the Deployment running `leapfrog backup
    operator` (kopf, standalone: one replica, no peering objects needed); its Prometheus
    metrics on `metrics_port`: a Service `backup-operator` with the port `metrics`, the
    pod's `prometheus.io/*` annotations, and the NetworkPolicy letting the stack's pods
    (a Prometheus among them) reach that port."""
    meta = kube.meta(OPERATOR, "backup-operator", kube.leapfrog_version)
    rules = [
        {
            "apiGroups": [GROUP],
            "resources": list(PLURALS.values()),
            "verbs": ["get", "list", "watch", "create", "patch", "delete"],
        },
        {
            "apiGroups": [GROUP],
            "resources": [f"{p}/status" for p in PLURALS.values()],
            "verbs": ["get", "patch"],
        },
        {
            # A Job it owns blocks its Backup's deletion until it is gone: where the API
            # server enforces owner references' permissions, that takes this right.
            "apiGroups": [GROUP],
            "resources": ["backups/finalizers", "restores/finalizers"],
            "verbs": ["update"],
        },
        {
            "apiGroups": ["batch"],
            "resources": ["jobs"],
            "verbs": ["get", "list", "watch", "create", "delete"],
        },
        {
            # A run's pod says what it took in its termination message (size, position).
            "apiGroups": [""],
            "resources": ["pods"],
            "verbs": ["get", "list", "watch"],
        },
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
    ]
    container = {
        "name": "operator",
        "image": kube.image("leapfrog"),
        "command": [
            "leapfrog",
            "backup",
            "operator",
            "--namespace",
            kube.namespace,
            "--interval",
            str(interval),
            "--image",
            kube.image("leapfrog"),
            "--listen",
            f"0.0.0.0:{metrics_port}",
        ],
        "ports": [{"name": "metrics", "containerPort": metrics_port, "protocol": "TCP"}],
        "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
        "securityContext": k.container_security(),
        "resources": k.resources("50m", "128Mi", memory_limit="256Mi"),
    }
    volumes, mounts = k.empty_dirs("/tmp")
    container["volumeMounts"] = mounts
    pod = k.restricted_pod(OPERATOR_UID, [container], volumes)
    pod["automountServiceAccountToken"] = True  # it talks to the API server
    pod["serviceAccountName"] = OPERATOR
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta,
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": OPERATOR},
            "subjects": [{"kind": "ServiceAccount", "name": OPERATOR, "namespace": kube.namespace}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 1,
                # Never two at once: standalone kopf has no peering to share the work.
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": kube.selector(OPERATOR)},
                "template": {
                    "metadata": {
                        "labels": kube.labels(OPERATOR, "backup-operator"),
                        "annotations": {
                            "prometheus.io/scrape": "true",
                            "prometheus.io/port": str(metrics_port),
                            "prometheus.io/path": "/metrics",
                        },
                    },
                    "spec": pod,
                },
            },
        },
        k.service(kube, OPERATOR, OPERATOR, "backup-operator", {"metrics": metrics_port}),
        k.stack_ingress(kube, OPERATOR, metrics_port),
    ]


def backup_schedule(
    store: str, options: BackupOptions, ports: Mapping[str, int], kube: k.KubeContext
) -> list[k.Manifest]:
    """The store's `backups:` as a BackupSchedule, and the claim of its storage when it
    is a directory (on Kubernetes: a volume claim `backups-<store>`)."""
    objects: list[k.Manifest] = []
    storage: dict[str, Any]
    if options.is_s3 and options.storage is not None:
        bucket, prefix = parse_s3_url(options.storage) or ("", "")
        s3: dict[str, Any] = {"bucket": bucket, "prefix": prefix}
        if options.s3 is not None:
            s3["region"] = options.s3.region
            if options.s3.endpoint:
                s3["endpoint"] = options.s3.endpoint
            if options.s3.access_key_secret:
                s3["accessKey"] = {"name": options.s3.access_key_secret, "key": SECRET_KEY}
            if options.s3.secret_key_secret:
                s3["secretKey"] = {"name": options.s3.secret_key_secret, "key": SECRET_KEY}
        storage = {"s3": s3}
    else:
        claim = storage_claim(store)
        storage = {"pvc": {"claimName": claim}}
        claim_spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": kube.storage.get("backups", "20Gi")}},
        }
        if kube.storage_class:
            claim_spec["storageClassName"] = kube.storage_class
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": kube.meta(claim, "backup-storage", app=OPERATOR),
                "spec": claim_spec,
            }
        )
    target: dict[str, Any] = {"kind": store, "service": store, "ports": dict(ports)}
    if store == "postgres":
        # The run logs in as the superuser, with its password from the Secret the
        # postgres component renders.
        from leapfrog.components import _postgres_kube as pg_kube
        from leapfrog.components._postgres_kube_archive import physical_on_kube
        from leapfrog.components._postgres_options import SUPERUSER, PostgresBackupOptions

        target["credentials"] = {"name": pg_kube.SECRET, "key": SUPERUSER}
        physical = isinstance(options, PostgresBackupOptions) and physical_on_kube(options)
        # Physical only where the server archives its WAL (into this claim, mounted
        # beside it): its Jobs run as its user on its node, and a restore mounts its
        # data claim; else logical, as a PostgreSQL without WAL archive must be.
        target["mode"] = "physical" if physical else "logical"
        if physical:
            target["data"] = {
                "claimName": f"data-{pg_kube.NAME}-0",
                "runAsUser": pg_kube.UID,
                "serverPath": pg_kube.DATA,
                "serverLabels": kube.selector(pg_kube.NAME),
            }
    if store in STORE_DATA:
        statefulset, uid, path = STORE_DATA[store]
        target["data"] = {
            "claimName": f"data-{statefulset}-0",
            "runAsUser": uid,
            "serverPath": path,
            "serverLabels": kube.selector(statefulset),
        }
    for field in ("topics", "indices", "databases"):
        chosen = getattr(options, field, None)
        if chosen:
            target["chosen"] = list(chosen)
    spec: dict[str, Any] = {
        "store": target,
        "storage": storage,
        "verify": options.verify,
        "retention": {
            "keepLast": options.keep_last,
            "keepDaily": options.keep_daily,
            "keepWeekly": options.keep_weekly,
            "keepMonthly": options.keep_monthly,
        },
    }
    if options.schedule:
        spec["schedule"] = options.schedule
    if options.encryption:
        spec["encryption"] = {"name": options.encryption, "key": SECRET_KEY}
    objects.append(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "BackupSchedule",
            "metadata": kube.meta(store, "backup-schedule", app=f"{store}-backups"),
            "spec": spec,
        }
    )
    return objects
