"""Backup storage in a local directory: one file per object, written to a hidden
temporary name, fsynced, then renamed, so a crash never leaves a half object under
its real name. Readable only by its owner (0700 directories, 0600 files)."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

from leapfrog.backup.storage import Storage, StorageError
from leapfrog.shared.files import fsync_directory

__all__ = ["DirectoryStorage"]

_CHUNK = 1 << 20
_TEMP_PREFIX = ".partial-"


class DirectoryStorage(Storage):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = f"directory {root}"

    def check(self) -> None:
        try:
            self.root.mkdir(mode=0o711, parents=True, exist_ok=True)
            # Unique per call: runs of several stores share a root (the scheduler's threads).
            probe = self.root / f"{_TEMP_PREFIX}probe-{os.getpid()}-{secrets.token_hex(4)}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageError(
                f"backup storage {self.root} cannot be written: {exc.strerror or exc}",
                hint="check that the directory exists, is writable and its disk is not full",
            ) from exc

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") or p.startswith(_TEMP_PREFIX) for p in parts):
            raise StorageError(f"bad object key {key!r}")
        return self.root.joinpath(*parts)

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        path = self._path(key)
        temp = path.with_name(f"{_TEMP_PREFIX}{path.name}")
        size = 0
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
            fsync_directory(path.parent)
        except BaseException as exc:  # the source failing too: no temporary file stays
            with contextlib.suppress(OSError):
                temp.unlink()
            if not isinstance(exc, OSError):
                raise
            what = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            raise StorageError(f"cannot write {key} to {self.root}: {what}") from exc
        return size

    def get(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise StorageError(f"cannot read {key} from {self.root}: {exc.strerror}") from exc
        with handle:
            while chunk := handle.read(_CHUNK):
                yield chunk

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        # Only the folder the prefix reaches into is walked (`postgres/wal/0000...`).
        folder = prefix.rpartition("/")[0]
        start = self._path(folder) if folder else self.root
        if not start.is_dir():
            return found
        for dirpath, _dirs, files in os.walk(start):
            for name in files:
                if name.startswith(_TEMP_PREFIX):
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(key)
        return sorted(found)

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        # Empty folders left behind by a deleted backup go too.
        self.delete_empty(path.parent)

    def abandon(self, prefix: str) -> list[str]:
        removed: list[str] = []
        if not self.root.is_dir():
            return removed
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                path = Path(dirpath, name)
                key = path.relative_to(self.root).as_posix()
                if name.startswith(_TEMP_PREFIX) and key.startswith(prefix):
                    path.unlink(missing_ok=True)
                    # The key of the object it was to become.
                    removed.append(key.replace(f"/{_TEMP_PREFIX}", "/").removeprefix(_TEMP_PREFIX))
                    self.delete_empty(path.parent)
        return removed

    def delete_empty(self, folder: Path) -> None:
        while folder != self.root:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def local_path(self, key: str) -> Path | None:
        return self._path(key)
