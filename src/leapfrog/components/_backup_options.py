"""The `backups:` block every store component takes (`components: <store>: backups:`).

One model, so each store says where its backups go and how many are kept the same way;
a store adds only what is its own (PostgreSQL: WAL archiving).
"""

from __future__ import annotations

from pydantic import Field

from leapfrog.components.base import ComponentOptions

__all__ = ["BackupOptions"]


class BackupOptions(ComponentOptions):
    storage: str | None = Field(
        default=None,
        description="Backup storage directory. Default: `backups/` in the stack's state directory.",
    )
    keep_last: int = Field(
        default=7, ge=1, description="`leapfrog backup prune` keeps this many backups."
    )
