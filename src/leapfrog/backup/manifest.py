"""What a backup is: its objects (size, sha256, compression) and what the store said.

The manifest is written last, after every object was read back and matched: a backup
without a readable, complete manifest is not a backup (`complete` says so).
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = [
    "MANIFEST",
    "Manifest",
    "ObjectEntry",
    "new_backup_id",
    "parse_manifest",
    "summary_of",
]

MANIFEST = "manifest.json"
_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{4}")


def new_backup_id(now: datetime | None = None) -> str:
    """Sortable by time: `20261205T231500Z-3fa2`."""
    when = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{when}-{secrets.token_hex(2)}"


def is_backup_id(text: str) -> bool:
    return bool(_ID.fullmatch(text))


class ObjectEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    size: int
    """Bytes as stored (after compression)."""
    raw_size: int
    """Bytes as the store produced them."""
    sha256: str
    """Of the stored bytes: checked on read-back, by verify and before a restore."""
    compression: Literal["zstd", "none"]
    encryption: Literal["none", "aes-256-gcm"] = "none"
    """Applied after compression (encryption.py); the sha256 is of the encrypted bytes."""
    key_id: str | None = None
    """`SECRET:FINGERPRINT` of the key (never the key): which secret a restore needs."""
    shared: bool = False
    """Kept under `<store>/shared/` rather than in the backup's own folder: written once
    by the first backup holding it and referred to by the later ones (an incremental
    backup's unchanged files); removed when no kept backup refers to it."""


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[1] = 1
    id: str
    store: str
    """The unit's name in the stack (`postgres`)."""
    kind: str
    """The driver (`postgres`)."""
    mode: str
    store_version: str
    started: datetime
    ended: datetime
    position: dict[str, str]
    """The store's own position at the backup's consistent point (WAL LSN, offsets...)."""
    objects: list[ObjectEntry]
    facts: dict[str, Any]
    """What the store held (tables, row counts, checksums): compared by verify."""
    chosen: list[str] = []
    """The names or patterns the run was limited to (`--topic`...); empty: the whole store."""

    @property
    def size(self) -> int:
        return sum(item.size for item in self.objects)

    @property
    def raw_size(self) -> int:
        return sum(item.raw_size for item in self.objects)


def parse_manifest(raw: bytes) -> Manifest | None:
    """The manifest, or None when it is not a complete one."""
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError:
        return None
    if not manifest.objects or not is_backup_id(manifest.id):
        return None
    return manifest


def summary_of(manifest: Manifest, position: str) -> dict[str, Any]:
    """A backup in a few fields (`backup run --summary-to`): what a Backup's status on
    Kubernetes shows of it, read by the operator from the run's termination message
    (4096 bytes at most: `position` is the driver's one-line summary)."""
    return {
        "backupId": manifest.id,
        "size": manifest.size,
        "rawSize": manifest.raw_size,
        "objects": len(manifest.objects),
        "position": position[:200],
    }
