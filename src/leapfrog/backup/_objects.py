"""Objects of one backup in the storage: written with their sha256 (compressed with
zstd when asked, then encrypted when the storage has a key), read back and checked, and
read for a restore (authenticated, decrypted, decompressed)."""

from __future__ import annotations

import hashlib
import itertools
import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import cast

import zstandard

from leapfrog.backup.control import RunControl
from leapfrog.backup.driver import BackupError
from leapfrog.backup.encryption import ALGORITHM, Key, open_sealed, seal
from leapfrog.backup.manifest import Manifest, ObjectEntry
from leapfrog.backup.storage import Storage

__all__ = [
    "ObjectReader",
    "ObjectWriter",
    "ReadableChunks",
    "backup_prefix",
    "check_keys",
    "check_object",
    "entry_key",
    "object_key",
    "prefetched",
    "shared_name",
    "shared_prefix",
]

_ZSTD_LEVEL = 1
"""zstd's fastest standard level: twice level 3's speed on table data for about a
fifth more bytes (bench/README.md, PostgreSQL)."""
_LIGHT_LEVEL = -3
"""For `put(..., light=True)`: Kafka's records (1 KiB values, half random, half repeated,
66 MB) at 1,300 MB/s of a core against level 1's 774 MB/s, 0.50 of their size against
0.49 (bench/README.md, Kafka)."""
_SAMPLE = 1 << 20
"""Bytes of an object zstd compresses first to judge whether it is worth it (smaller
objects are always compressed: they cost little either way)."""
_WORTH = 0.95
"""zstd must bring the sample to at most this share of its size, or the object is
stored as it is (`compression: none` in the manifest)."""


def backup_prefix(store: str, backup_id: str) -> str:
    return f"{store}/backups/{backup_id}/"


def shared_prefix(store: str) -> str:
    return f"{store}/shared/"


def shared_name(entry: ObjectEntry) -> str:
    """The name a driver gave a shared object (its key without the writer and suffix)."""
    return entry.name.removesuffix(".zst").rpartition("@")[0] or entry.name


def object_key(manifest: Manifest, entry: ObjectEntry) -> str:
    """Where a manifest's object is stored: its backup's folder, or the shared one."""
    if entry.shared:
        return shared_prefix(manifest.store) + entry.name
    return backup_prefix(manifest.store, manifest.id) + entry.name


class ObjectWriter:
    """The engine's `Sink`: what a driver writes objects through. `previous` is the
    store's newest complete backup of the same mode: its shared objects can be reused."""

    def __init__(  # noqa: PLR0917
        self,
        storage: Storage,
        store: str,
        backup_id: str,
        compress: bool,
        run: RunControl,
        previous: Manifest | None = None,
    ) -> None:
        self._storage = storage
        self._store = store
        self._backup_id = backup_id
        self._prefix = backup_prefix(store, backup_id)
        self._compress = compress
        self._run = run
        self.previous = previous
        self._shared_keys: set[str] | None = None
        self.written: list[ObjectEntry] = []
        # Each object is read back in a thread of its own while the driver goes on
        # (the next object, the store's facts): hashing and reading release the GIL.
        self._readback = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readback")
        self._checks: list[tuple[ObjectEntry, Future[str | None]]] = []
        self._lock = threading.Lock()  # several threads may put (and drop) objects

    def read_back(self) -> list[str]:
        """Wait for every object's read-back; why each one that failed did."""
        self._readback.shutdown(wait=True)
        return [problem for _entry, check in self._checks if (problem := check.result())]

    def close(self) -> None:
        self._readback.shutdown(wait=True, cancel_futures=True)

    def _sealing(self) -> Key | None:
        return self._storage.keyring.current() if self._storage.keyring is not None else None

    def reuse(self, name: str, raw_size: int) -> ObjectEntry | None:
        """The previous backup's shared object `name` of `raw_size` bytes, now also part of
        this backup (not read or written again), when it is still stored and sealed as
        new objects would be; None when it must be written (`put(..., shared=True)`)."""
        if self.previous is None:
            return None
        found = next(
            (
                e
                for e in self.previous.objects
                if e.shared and shared_name(e) == name and e.raw_size == raw_size
            ),
            None,
        )
        if found is None or (found.encryption != "none") != (self._sealing() is not None):
            return None
        if self._shared_keys is None:
            self._shared_keys = set(self._storage.keys(shared_prefix(self._store)))
        if shared_prefix(self._store) + found.name not in self._shared_keys:
            return None
        self.written.append(found)
        return found

    def put(
        self,
        name: str,
        chunks: Iterable[bytes],
        shared: bool = False,
        compress: bool = True,
        light: bool = False,
    ) -> ObjectEntry:
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

        source: Iterable[bytes] = prefetched(counted())
        # A shared object's key names the backup that wrote it: never overwritten by a
        # later one (sealed or compressed otherwise) that older manifests would not match.
        key = f"{name}@{self._backup_id}" if shared else name
        compressing = self._compress and compress
        if compressing:
            source, compressing = _compressed(iter(source), _LIGHT_LEVEL if light else _ZSTD_LEVEL)
            if compressing:
                key = f"{key}.zst"
        sealing = self._sealing()
        if sealing is not None:
            source = seal(sealing, key, source)
        prefix = shared_prefix(self._store) if shared else self._prefix
        size = self._storage.put(prefix + key, hashed(source))
        entry = ObjectEntry(
            name=key,
            size=size,
            raw_size=raw_size,
            sha256=stored.hexdigest(),
            compression="zstd" if compressing else "none",
            encryption=ALGORITHM if sealing is not None else "none",
            key_id=sealing.key_id if sealing is not None else None,
            shared=shared,
        )
        with self._lock:
            self.written.append(entry)
            check = self._readback.submit(check_object, self._storage, prefix, entry)
            self._checks.append((entry, check))
        return entry

    def drop(self, entry: ObjectEntry) -> None:
        with self._lock:
            checks = [c for e, c in self._checks if e is entry]
            if not checks:
                raise BackupError(f"object {entry.name} was not written by this run")
            self._checks = [(e, c) for e, c in self._checks if e is not entry]
            self.written = [e for e in self.written if e is not entry]
        checks[0].cancel()
        wait(checks)  # not deleted while it is being read back
        prefix = shared_prefix(self._store) if entry.shared else self._prefix
        self._storage.delete(prefix + entry.name)


_END = object()


def prefetched(chunks: Iterator[bytes], depth: int = 4) -> Iterator[bytes]:
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


def _compressed(chunks: Iterator[bytes], level: int) -> tuple[Iterator[bytes], bool]:
    """The object's bytes as one zstd frame, and True; or as they are, and False, when
    zstd does not shrink its first `_SAMPLE` bytes by `_WORTH` (random or compressed
    data, which zstd would only pass through at ~1 GB/s of a core). Each chunk is fed
    straight to the compressor (a file-like buffer in between copied every chunk
    again); it hands out each block as it completes."""
    sample: list[bytes] = []
    held = 0
    for chunk in chunks:
        sample.append(chunk)
        held += len(chunk)
        if held >= _SAMPLE:
            break
    compressor = zstandard.ZstdCompressor(level=level).compressobj()
    head = b"".join(compressor.compress(chunk) for chunk in sample)
    if held >= _SAMPLE:
        head += compressor.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        if len(head) > held * _WORTH:
            return itertools.chain(sample, chunks), False
    sample.clear()

    def frame() -> Iterator[bytes]:
        if head:
            yield head
        for chunk in chunks:
            if out := compressor.compress(chunk):
                yield out
        yield compressor.flush()

    return frame(), True


class ReadableChunks:
    """A file-like `read` over chunks (for tarfile's streaming mode): the unread part of
    the current chunk is kept as a view, so a small read never copies the rest."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        if 0 <= size <= len(self._buffer):
            data = bytes(self._buffer[:size])
            self._buffer = self._buffer[size:]
            return data
        parts = [bytes(self._buffer)]
        held = len(self._buffer)
        while size < 0 or held < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            parts.append(chunk)
            held += len(chunk)
        joined = b"".join(parts)
        cut = len(joined) if size < 0 else min(size, len(joined))
        self._buffer = memoryview(joined)[cut:]
        return joined[:cut]


def check_keys(storage: Storage, manifest: Manifest) -> list[str]:
    """Why the keys of the manifest's encrypted objects cannot be had (at most one
    reason per key), before anything is restored."""
    problems: dict[str, str] = {}
    for entry in manifest.objects:
        if entry.encryption == "none" or entry.key_id in problems:
            continue
        try:
            entry_key(storage, entry)
        except BackupError as exc:
            problems[entry.key_id or ""] = str(exc)
    return list(problems.values())


def check_object(
    storage: Storage, prefix: str, entry: ObjectEntry, run: RunControl | None = None
) -> str | None:
    """Why the stored object does not match its manifest entry, or None when it does;
    the bytes read count as the run's progress."""
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in storage.get(prefix + entry.name):
            digest.update(chunk)
            size += len(chunk)
            if run is not None:
                run.progressed(f"checking {entry.name}", len(chunk))
    except BackupError as exc:
        return f"object {entry.name}: {exc}"
    except Exception as exc:  # a storage error of any kind names the object
        return f"object {entry.name} cannot be read: {exc}"
    if size != entry.size:
        return f"object {entry.name} has {size} bytes, the manifest says {entry.size}"
    if digest.hexdigest() != entry.sha256:
        return f"object {entry.name} does not match its sha256 (corrupt)"
    return None


def entry_key(storage: Storage, entry: ObjectEntry) -> Key:
    """The key an encrypted object needs, or a BackupError naming its secret."""
    secret = (entry.key_id or "?:").rpartition(":")[0]
    if storage.keyring is None or entry.key_id is None:
        raise BackupError(
            f"object {entry.name} is encrypted with the key in secret {secret!r}, and "
            "this storage has no keys",
            hint=f"declare `encryption: {secret}` under the store's `backups:`",
        )
    return storage.keyring.key(entry.key_id)


class ObjectReader:
    """The engine's `Source`: a backup's objects, decompressed, checked as they stream;
    the stored bytes read count as the run's progress (bytes and rate of a restore)."""

    def __init__(self, storage: Storage, manifest: Manifest, run: RunControl | None = None) -> None:
        self.manifest = manifest
        self._storage = storage
        self._run = run

    def _entry(self, name: str) -> ObjectEntry:
        for entry in self.manifest.objects:
            if name in (entry.name, entry.name.removesuffix(".zst")) or (
                entry.shared and name == shared_name(entry)
            ):
                return entry
        raise BackupError(f"backup {self.manifest.id} has no object {name}")

    def open(self, name: str) -> Iterator[bytes]:
        entry = self._entry(name)
        digest = hashlib.sha256()

        def stored() -> Iterator[bytes]:
            for chunk in self._storage.get(object_key(self.manifest, entry)):
                digest.update(chunk)
                if self._run is not None:
                    self._run.progressed(f"reading {entry.name}", len(chunk))
                yield chunk
            if digest.hexdigest() != entry.sha256:
                raise BackupError(f"object {entry.name} does not match its sha256 (corrupt)")

        plain: Iterator[bytes] = stored()
        if entry.compression != "none":
            # Read and hashed in a thread of its own while the previous chunk is
            # decompressed: both release the GIL, so a restore uses both cores.
            plain = prefetched(plain)
        if entry.encryption != "none":
            plain = open_sealed(entry_key(self._storage, entry), entry.name, plain)
        if entry.compression == "none":
            yield from plain
            return
        # Each stored chunk straight into the decompressor (no file-like buffer copying
        # it again); every chunk is read, so the sha256 above is always checked.
        decompressor = zstandard.ZstdDecompressor().decompressobj()
        for chunk in plain:
            if decompressor.eof:
                if chunk:
                    raise BackupError(f"object {entry.name} has data after its zstd frame")
                continue
            try:
                out = decompressor.decompress(chunk)
            except zstandard.ZstdError as exc:
                raise BackupError(f"object {entry.name} cannot be decompressed: {exc}") from None
            if out:
                yield out
        if not decompressor.eof:
            raise BackupError(f"object {entry.name} ends inside its zstd frame (truncated)")

    def extract(self, name: str, path: Path) -> None:
        with path.open("wb") as out:
            for chunk in self.open(name):
                out.write(chunk)
