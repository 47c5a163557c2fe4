"""WAL archiving of a PostgreSQL on Kubernetes, when its `backups:` are physical.

The server's `archive_command` is the local stack's shell script
(`_postgres_archive.shell_archive_script`), from a ConfigMap, copying each finished
segment into `<store>/wal/` of the schedule's storage: the backup volume claim
(`backups-postgres`), which the server's pod mounts where the backup Jobs do
(`/backups`). The first physical backup Job makes that folder; before it, segments are
not kept (nothing can need WAL from before a base backup), as locally. Its access
rules add the superuser's replication connection from the network, which the backup
Job's pg_basebackup makes (the image's own rules do not admit it).

Only a claim, unencrypted: an S3 storage or encrypted segments need leapfrog's
`walpush` in the server's container, which the official postgres image does not have.
A stack that asks for physical backups there (`mode: physical` written out) is refused
with a sentence; one that only takes the default gets logical backups, as before.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from leapfrog.components import kube as k
from leapfrog.components._postgres_archive import GAPS_DIR, shell_archive_script
from leapfrog.components._postgres_options import SUPERUSER, PostgresBackupOptions
from leapfrog.components.base import NotSupported

__all__ = [
    "ARCHIVE_CONFIG",
    "BACKUP_MOUNT",
    "archive_parts",
    "hba_rules",
    "physical_on_kube",
    "storage_claim",
]

BACKUP_MOUNT = "/backups"
"""Where the backup claim is mounted: in the server's pod and in every backup Job."""
ARCHIVE_CONFIG = "postgres-wal-archive"
"""The ConfigMap holding the archive script."""
_SCRIPT_DIR = "/etc/leapfrog"
_SCRIPT = "archive-wal.sh"
_HBA = "pg_hba.conf"


def hba_rules(version: int) -> str:
    """The official image's own access rules, and one more: the superuser's replication
    connection over the network (with its password), which pg_basebackup in a backup
    Job makes and which `all` does not match."""
    method = "scram-sha-256" if version >= 14 else "md5"  # the image's default per version
    return (
        "# TYPE  DATABASE  USER  ADDRESS  METHOD (written by leapfrog)\n"
        "local  all  all  trust\n"
        "host  all  all  127.0.0.1/32  trust\n"
        "host  all  all  ::1/128  trust\n"
        "local  replication  all  trust\n"
        "host  replication  all  127.0.0.1/32  trust\n"
        "host  replication  all  ::1/128  trust\n"
        f"host  all  all  all  {method}\n"
        f"host  replication  {SUPERUSER}  all  {method}\n"
    )


def storage_claim(store: str) -> str:
    """The volume claim of a store's backup storage when `backups:` names a directory."""
    return f"backups-{store}"


def physical_on_kube(backups: PostgresBackupOptions | None) -> bool:
    """Whether the schedule of these `backups:` takes physical backups on Kubernetes
    (and the server archives its WAL for them); NotSupported when the stack asks for
    physical ones where the server cannot archive."""
    if backups is None or backups.mode != "physical":
        return False
    why = None
    if backups.is_s3:
        why = "an S3 storage"
    elif backups.encryption is not None:
        why = "encryption"
    elif not backups.wal_archive:
        why = "wal_archive: false"
    if why is None:
        return True
    if "mode" in backups.model_fields_set:
        raise NotSupported(
            f"physical PostgreSQL backups on Kubernetes archive WAL into a volume claim "
            f"storage, unencrypted; these `backups:` have {why}. Use `mode: logical`, or a "
            "directory `storage:` without `encryption:`"
        )
    return False


def archive_parts(
    backups: PostgresBackupOptions, kube: k.KubeContext, store: str, data_dir: str, version: int
) -> tuple[k.Manifest, list[str], list[dict[str, Any]], list[dict[str, Any]]]:
    """(the script's ConfigMap, the server's `-c` arguments, its volumes, its mounts):
    the segments go to `<mount>/<store>/wal`, gap markers into `<data_dir>/wal-gaps`;
    the access rules (`hba_rules`) are the ConfigMap's too."""
    archive = PurePosixPath(BACKUP_MOUNT) / store / "wal"
    gaps = PurePosixPath(data_dir) / GAPS_DIR
    script = shell_archive_script(archive, gaps, backups, store)
    files = {_SCRIPT: script, _HBA: hba_rules(version)}
    config = k.config_map(kube, ARCHIVE_CONFIG, store, files)
    settings = {
        "archive_mode": "on",
        "archive_command": f"/bin/sh {_SCRIPT_DIR}/{_SCRIPT} %p %f",
        "archive_timeout": str(backups.archive_timeout),
        "wal_level": "replica",
        "hba_file": f"{_SCRIPT_DIR}/{_HBA}",
    }
    args = [f"-c{name}={value}" for name, value in settings.items()]
    volumes: list[dict[str, Any]] = [
        {"name": "wal-archive", "configMap": {"name": ARCHIVE_CONFIG}},
        {"name": "backups", "persistentVolumeClaim": {"claimName": storage_claim(store)}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "wal-archive", "mountPath": _SCRIPT_DIR, "readOnly": True},
        {"name": "backups", "mountPath": BACKUP_MOUNT},
    ]
    return config, args, volumes, mounts
