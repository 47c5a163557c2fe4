"""The backup storage contract: where a backup's objects and manifest are kept.

Keys are `/`-separated paths (`postgres/backups/<id>/base.tar.zst`). A `put` is atomic:
a reader sees the whole object or none. Implementations: a directory (`directory.py`)
and an S3-compatible object store (`s3.py`); `open_storage` (factory.py) makes the one a
stack's `backups:` options describe.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from leapfrog.backup.encryption import Keyring

__all__ = ["Storage", "StorageError"]


class StorageError(LeapfrogError):
    """The storage cannot be used now (down, full, read-only, missing object)."""


class Storage(ABC):
    description: str
    """Where it is, for messages (`directory /var/lib/x/backups`)."""
    keyring: Keyring | None = None
    """Keys to seal new objects with and to open sealed ones (`open_storage` sets it from
    the `encryption:` option); None: objects are written as they are."""

    @abstractmethod
    def check(self) -> None:
        """Raise StorageError with the reason when the storage cannot take a backup now."""

    @abstractmethod
    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        """Write an object atomically and durably; its size in bytes."""

    @abstractmethod
    def get(self, key: str) -> Iterator[bytes]:
        """The object's bytes, in chunks; StorageError when it is not there."""

    @abstractmethod
    def keys(self, prefix: str) -> list[str]:
        """Every complete object whose key starts with `prefix`, sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object (gone already is fine)."""

    @abstractmethod
    def abandon(self, prefix: str) -> list[str]:
        """Remove what writers that died left under `prefix` (temporary files,
        unfinished uploads); called only under the store's lock. What was removed."""

    def local_path(self, key: str) -> Path | None:
        """The object's file when the storage is a local directory (WAL archiving writes
        there directly), else None."""
        return None
