"""Objects of one backup in the storage: written with their sha256 (compressed with
zstd when asked), read back and checked, and read for a restore."""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, cast

import zstandard

from leapfrog.backup.control import RunControl
from leapfrog.backup.driver import BackupError
from leapfrog.backup.manifest import Manifest, ObjectEntry
from leapfrog.backup.storage import Storage

__all__ = ["ObjectReader", "ObjectWriter", "ReadableChunks", "backup_prefix", "check_object"]

_ZSTD_LEVEL = 1
"""zstd's fastest standard level: twice level 3's speed on table data for about a
fifth more bytes (bench/README.md, PostgreSQL)."""


def backup_prefix(store: str, backup_id: str) -> str:
    return f"{store}/backups/{backup_id}/"


class ObjectWriter:
    """The engine's `Sink`: what a driver writes objects through."""

    def __init__(self, storage: Storage, prefix: str, compress: bool, run: RunControl) -> None:
        self._storage = storage
        self._prefix = prefix
        self._compress = compress
        self._run = run
        self.written: list[ObjectEntry] = []
        # Each object is read back in a thread of its own while the driver goes on
        # (the next object, the store's facts): hashing and reading release the GIL.
        self._readback = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readback")
        self._checks: list[Future[str | None]] = []

    def read_back(self) -> list[str]:
        """Wait for every object's read-back; why each one that failed did."""
        self._readback.shutdown(wait=True)
        return [problem for check in self._checks if (problem := check.result())]

    def close(self) -> None:
        self._readback.shutdown(wait=True, cancel_futures=True)

    def put(self, name: str, chunks: Iterable[bytes]) -> ObjectEntry:
        if "/" in name or name.startswith(".") or name == "manifest.json":
            raise BackupError(f"bad object name {name!r}")
        stored = hashlib.sha256()
        raw_size = 0

        def counted() -> Iterator[bytes]:
            nonlocal raw_size
            for chunk in chunks:
                self._run.check()
                raw_size += len(chunk)
                self._run.progressed(name, len(chunk))
                yield chunk

        def hashed(data: Iterable[bytes]) -> Iterator[bytes]:
            for chunk in data:
                stored.update(chunk)
                yield chunk

        source: Iterable[bytes] = _prefetched(counted())
        key = name
        if self._compress:
            key = f"{name}.zst"
            source = _compressed(source)
        size = self._storage.put(self._prefix + key, hashed(source))
        entry = ObjectEntry(
            name=key,
            size=size,
            raw_size=raw_size,
            sha256=stored.hexdigest(),
            compression="zstd" if self._compress else "none",
        )
        self.written.append(entry)
        self._checks.append(self._readback.submit(check_object, self._storage, self._prefix, entry))
        return entry


_END = object()


def _prefetched(chunks: Iterator[bytes], depth: int = 4) -> Iterator[bytes]:
    """The chunks, read ahead by a thread of their own (up to `depth`): the store's
    program or socket is read while the previous chunk is compressed, hashed and
    written. Reading, zstd and sha256 release the GIL, so this uses a second core."""
    ahead: queue.Queue[object] = queue.Queue(depth)
    stop = threading.Event()

    def hand(item: object) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def fill() -> None:
        try:
            for chunk in chunks:
                if not hand(chunk):
                    return
            hand(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            hand(exc)
        finally:
            if isinstance(chunks, Generator):
                chunks.close()

    reader = threading.Thread(target=fill, name="prefetch", daemon=True)
    reader.start()
    try:
        while (item := ahead.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield cast(bytes, item)
    finally:
        stop.set()
        reader.join()


def _compressed(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """One zstd frame of the chunks, fed straight to the compressor (a file-like buffer
    in between copied every chunk again); it hands out each block as it completes."""
    compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compressobj()
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


class ReadableChunks:
    """A file-like `read` over chunks, for zstandard's streaming compressor."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def check_object(storage: Storage, prefix: str, entry: ObjectEntry) -> str | None:
    """Why the stored object does not match its manifest entry, or None when it does."""
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in storage.get(prefix + entry.name):
            digest.update(chunk)
            size += len(chunk)
    except BackupError as exc:
        return f"object {entry.name}: {exc}"
    except Exception as exc:  # a storage error of any kind names the object
        return f"object {entry.name} cannot be read: {exc}"
    if size != entry.size:
        return f"object {entry.name} has {size} bytes, the manifest says {entry.size}"
    if digest.hexdigest() != entry.sha256:
        return f"object {entry.name} does not match its sha256 (corrupt)"
    return None


class ObjectReader:
    """The engine's `Source`: a backup's objects, decompressed, checked as they stream."""

    def __init__(self, storage: Storage, manifest: Manifest) -> None:
        self.manifest = manifest
        self._storage = storage
        self._prefix = backup_prefix(manifest.store, manifest.id)

    def _entry(self, name: str) -> ObjectEntry:
        for entry in self.manifest.objects:
            if name in (entry.name, entry.name.removesuffix(".zst")):
                return entry
        raise BackupError(f"backup {self.manifest.id} has no object {name}")

    def open(self, name: str) -> Iterator[bytes]:
        entry = self._entry(name)
        digest = hashlib.sha256()

        def stored() -> Iterator[bytes]:
            for chunk in self._storage.get(self._prefix + entry.name):
                digest.update(chunk)
                yield chunk
            if digest.hexdigest() != entry.sha256:
                raise BackupError(f"object {entry.name} does not match its sha256 (corrupt)")

        if entry.compression == "none":
            yield from stored()
            return
        reader = zstandard.ZstdDecompressor().read_to_iter(
            cast(IO[bytes], ReadableChunks(stored()))
        )
        yield from reader

    def extract(self, name: str, path: Path) -> None:
        with path.open("wb") as out:
            for chunk in self.open(name):
                out.write(chunk)
