"""Continuous WAL archiving into the backup storage, when a stack declares backups.

PostgreSQL runs `archive_command` for every finished WAL segment and keeps the segment
in pg_wal until the command exits 0. If the backup storage is down, that retry would
fill pg_wal and finally stop the database, so the script below does what pgBackRest's
`archive-push-queue-max` does: past `max_wal_backlog_mb` of pg_wal it drops the segment
(exit 0), writes a gap marker into the instance's data directory and logs a WARNING.
The database keeps running; point-in-time restore across the gap is lost until the
next base backup, and `leapfrog backup list` says so.

Before the first base backup the archive directory does not exist (the backup run
makes it, owned by the instance's user): nothing can need WAL from before a base
backup, so segments are not kept.

When the storage is S3 or objects are encrypted, a shell script cannot do it:
`archive_command` runs leapfrog's own `python -m leapfrog.backup.walpush push` (and
`restore_command` its `fetch`), with the same backlog rule. It reads the storage and its
credentials from `<data dir>/wal-archive.json` (0600, the instance's user), which each
base backup writes: before the first one it does not exist, and segments are not kept.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path, PurePath

from leapfrog.components._postgres_options import PostgresBackupOptions
from leapfrog.components.base import Instance

__all__ = [
    "ARCHIVE_SCRIPT",
    "GAPS_DIR",
    "archive_dir",
    "archive_script",
    "archive_settings",
    "shell_archive_script",
    "storage_root",
    "uses_walpush",
    "walpush_command",
]

ARCHIVE_SCRIPT = "conf/archive-wal.sh"
WALPUSH_CONFIG = "wal-archive.json"
"""Under the instance's data directory: the storage (and secrets) walpush uses."""
GAPS_DIR = "wal-gaps"
"""Under the instance's data directory: one empty file per WAL segment dropped."""


def storage_root(backup: PostgresBackupOptions, where: Instance) -> Path:
    """The backup storage directory: the declared one, or `<state dir>/backups`.

    The runtime lays instances out as `<state dir>/data/<instance>`, so the state dir
    is two levels above the instance's data directory.
    """
    if backup.storage:
        return Path(backup.storage)
    return where.data_dir.parent.parent / "backups"


def archive_dir(backup: PostgresBackupOptions, where: Instance) -> Path:
    return storage_root(backup, where) / where.name / "wal"


def archive_script(backup: PostgresBackupOptions, where: Instance) -> str:
    return shell_archive_script(
        archive_dir(backup, where), where.data_dir / GAPS_DIR, backup, where.instance
    )


def shell_archive_script(
    archive_folder: PurePath, gaps_folder: PurePath, backup: PostgresBackupOptions, instance: str
) -> str:
    """The archive_command script copying each segment into `archive_folder` (a local
    stack's storage directory; on Kubernetes, the backup claim mounted in the pod)."""
    archive = shlex.quote(str(archive_folder))
    gaps = shlex.quote(str(gaps_folder))
    max_kb = backup.max_wal_backlog_mb * 1024
    return f"""#!/bin/sh
# archive_command of {instance} (written by leapfrog): $1 = %p, $2 = %f; runs in PGDATA.
set -u
src="$1"; name="$2"; archive={archive}; gaps={gaps}; max_kb={max_kb}
if [ ! -d "$archive" ]; then
  echo "leapfrog archive: no base backup yet ($archive missing): $name not kept" >&2
  exit 0
fi
if [ -f "$archive/$name" ]; then
  cmp -s "$src" "$archive/$name" && exit 0
  echo "leapfrog archive: $archive/$name exists with other content" >&2
  exit 1
fi
tmp="$archive/.$name.partial"
if cp "$src" "$tmp" 2>/dev/null && sync "$tmp" && mv "$tmp" "$archive/$name"; then
  exit 0
fi
rm -f "$tmp" 2>/dev/null
# Segments PostgreSQL still waits to archive (recycled ones do not count).
ready=$(ls pg_wal/archive_status | grep -c '[.]ready$')
backlog=$(( ready * $(stat -c %s "$src") / 1024 ))
if [ "$backlog" -gt "$max_kb" ]; then
  mkdir -p "$gaps" && : > "$gaps/$name"
  echo "leapfrog archive: WARNING cannot write $archive and $backlog kB wait in pg_wal" \\
    "(limit $max_kb kB): $name dropped; point-in-time restore needs a new base backup" >&2
  exit 0
fi
echo "leapfrog archive: cannot write $archive/$name; kept in pg_wal" \
  "($backlog kB waiting, limit $max_kb kB)" >&2
exit 1
"""


def uses_walpush(backup: PostgresBackupOptions) -> bool:
    """Whether WAL goes through leapfrog's walpush rather than the shell script."""
    return backup.is_s3 or backup.encryption is not None


def walpush_command(backup: PostgresBackupOptions, where: Instance, action: str) -> str:
    """`push %p %f` (archive_command) or `fetch %f %p` (restore_command)."""
    argv = [
        sys.executable,
        "-m",
        "leapfrog.backup.walpush",
        action,
        "--config",
        str(where.data_dir / WALPUSH_CONFIG),
    ]
    if action == "push":
        argv += [
            "--gaps",
            str(where.data_dir / GAPS_DIR),
            "--max-backlog-mb",
            str(backup.max_wal_backlog_mb),
        ]
    tail = "%p %f" if action == "push" else "%f %p"
    return " ".join(shlex.quote(a) for a in argv) + " " + tail


def archive_settings(backup: PostgresBackupOptions, where: Instance) -> dict[str, str]:
    script = shlex.quote(str(where.data_dir / ARCHIVE_SCRIPT))
    command = f"/bin/sh {script} %p %f"
    if uses_walpush(backup):
        command = walpush_command(backup, where, "push")
    return {
        "archive_mode": "on",
        "archive_command": command,
        "archive_timeout": str(backup.archive_timeout),
        "wal_level": "replica",
    }
