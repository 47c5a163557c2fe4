"""ZooKeeper's snapshot format read in Python while the snapshot streams: every znode's
path, data and ephemeral owner, without a JVM (ZooKeeper's `SnapshotFormatter` took
1.5-2 s to start and print what this reads in the stream's own time).

The format (ZooKeeper 3.x `FileSnap`, jute's big-endian binary archive: `int` 4 bytes,
`long` 8, a string or buffer an `int` length, -1 for null, then its bytes):

- header: magic `ZKSN`, version, dbid;
- sessions: a count, then (id `long`, timeout `int`) each;
- the ACL cache: a count, then per entry a `long` and a vector of ACLs (perms `int`,
  scheme string, id string);
- nodes, depth first from the root (path ""): path string, data buffer, acl `long`
  and the persisted stat (czxid, mzxid, ctime, mtime `long`; version, cversion,
  aversion `int`; ephemeralOwner, pzxid `long`); the path "/" ends them;
- a seal: the Adler-32 of every byte before it (`long`) and the path "/"; then the
  digest and the last processed zxid, each sealed again (not needed for the facts).

The first seal is checked, so facts are only had from a snapshot that arrived whole.
A snapshot written with gzip compression (`zookeeper.snapshot.compression.method`) is
unpacked on the way; snappy is refused with the reason.
"""

from __future__ import annotations

import hashlib
import queue
import struct
import threading
import zlib
from types import TracebackType
from typing import Any

from leapfrog.backup._zk_tree import kept, summary
from leapfrog.backup.driver import BackupError

__all__ = ["SnapshotReader", "ThreadedReader"]

_MAGIC = b"ZKSN"
_SYSTEM = "/zookeeper"
_GZIP = b"\x1f\x8b"
_SNAPPY = b"\xffsNaPpY"
_STAT = 60
"""StatPersisted: 4 longs, 3 ints, 2 longs."""
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_EPHEMERAL_AT = 8 + 4 * 8 + 3 * 4  # acl long, then the stat up to ephemeralOwner


class _Short(Exception):
    """Not enough bytes yet for the next record."""


class SnapshotReader:
    """Fed the snapshot's bytes as they stream (`feed`), then `facts()`: `_zk_tree.summary`
    of its persistent znodes (as of a server), plus the ephemeral paths."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._adler = 1
        self._phase = "start"
        self._left = 0  # records left in the current counted section
        self._unzip: Any = None
        self.tree: dict[str, str] = {}
        self.ephemeral: list[str] = []
        self.nodes = 0

    # -- input ----------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        if self._phase == "done":
            return
        if self._phase == "start" and not self._buf:
            if chunk.startswith(_GZIP):
                self._unzip = zlib.decompressobj(wbits=31)
            elif chunk.startswith(_SNAPPY):
                raise BackupError(
                    "ZooKeeper wrote this snapshot with snappy compression, which leapfrog "
                    "cannot read",
                    hint="leave `zookeeper.snapshot.compression.method` unset (or gz)",
                )
        if self._unzip is not None:
            chunk = self._unzip.decompress(chunk)
        self._buf += chunk
        self._parse()

    def facts(self) -> dict[str, Any]:
        """The facts, once the whole snapshot was fed; a BackupError when it was not."""
        if self._unzip is not None and self._phase != "done":
            self._buf += self._unzip.flush()
            self._parse()
        if self._phase != "done":
            raise BackupError(
                f"the snapshot ended early (while reading its {self._phase}, "
                f"{self.nodes} znodes read)"
            )
        if "/" not in self.tree:
            raise BackupError("the snapshot holds no znode tree (no `/`)")
        return {
            **summary(self.tree),
            "ephemeral_skipped": len(self.ephemeral),
            "ephemeral": self.ephemeral,
        }

    # -- parsing ----------------------------------------------------------------------
    def _need(self, size: int) -> int:
        """The position after `size` more bytes; _Short when they have not arrived."""
        end = self._pos + size
        if end > len(self._buf):
            raise _Short
        return end

    def _int(self) -> int:
        end = self._need(4)
        (value,) = _INT.unpack_from(self._buf, self._pos)
        self._pos = end
        return int(value)

    def _long(self) -> int:
        end = self._need(8)
        (value,) = _LONG.unpack_from(self._buf, self._pos)
        self._pos = end
        return int(value)

    def _bytes(self) -> memoryview:
        size = self._int()
        if size < 0:
            return memoryview(b"")
        end = self._need(size)
        data = memoryview(self._buf)[self._pos : end]
        self._pos = end
        return data

    def _parse(self) -> None:
        while self._phase != "done":
            mark = self._pos
            try:
                self._step()
            except _Short:
                if self._phase != "nodes":  # nodes commit each one they read
                    self._pos = mark
                break
        self._compact()

    def _compact(self) -> None:
        """Drop the bytes read (counting them into the Adler-32 of the seal)."""
        if self._pos:
            self._adler = zlib.adler32(memoryview(self._buf)[: self._pos], self._adler)
            del self._buf[: self._pos]
            self._pos = 0

    def _step(self) -> None:
        phase = self._phase
        if phase == "start":
            end = self._need(16)
            if bytes(self._buf[:4]) != _MAGIC:
                raise BackupError(
                    f"not a ZooKeeper snapshot (it starts {bytes(self._buf[:4])!r}, not ZKSN)"
                )
            self._pos = end
            self._phase = "sessions"
            self._left = -1
        elif phase == "sessions":  # one record a step: a step is all or nothing
            if self._left < 0:
                self._left = self._int()
            elif self._left > 0:
                self._pos = self._need(12)
                self._left -= 1
            else:
                self._phase, self._left = "acls", -1
        elif phase == "acls":
            if self._left < 0:
                self._left = self._int()
            elif self._left > 0:
                self._long()
                for _ in range(max(self._int(), 0)):
                    self._int()
                    self._bytes()
                    self._bytes()
                self._left -= 1
            else:
                self._phase = "nodes"
        elif phase == "nodes":
            self._nodes()
        elif phase == "seal":
            with memoryview(self._buf) as view:  # the Adler-32 covers every byte before it
                adler = zlib.adler32(view[: self._pos], self._adler)
            sealed = self._long() & 0xFFFFFFFFFFFFFFFF
            end_marker = bytes(self._bytes())
            if sealed != adler or end_marker != b"/":
                raise BackupError(
                    "the snapshot is damaged: its checksum does not match its bytes "
                    f"(Adler-32 {adler:#x}, sealed {sealed:#x})"
                )
            self._phase = "done"

    def _nodes(self) -> None:
        """Every node there are bytes for; the section ends at the path "/". (The hot
        loop: a local for everything it calls, `data_digest` and `kept` inlined.)"""
        buf = self._buf
        view = memoryview(buf)
        size = len(buf)
        unpack_int = _INT.unpack_from
        unpack_long = _LONG.unpack_from
        sha256 = hashlib.sha256
        tree = self.tree
        pos = self._pos
        try:
            while True:
                if pos + 4 > size:
                    raise _Short
                (length,) = unpack_int(buf, pos)
                start = pos + 4
                end = start + length if length > 0 else start
                if end + 4 > size:
                    raise _Short
                path = str(view[start:end], "utf-8")
                if path == "/":
                    self._pos = end
                    self._phase = "seal"
                    return
                (length,) = unpack_int(buf, end)
                data_at = end + 4
                data_end = data_at + length if length > 0 else data_at
                after = data_end + 8 + _STAT
                if after > size:
                    raise _Short
                (owner,) = unpack_long(buf, data_end + _EPHEMERAL_AT)
                if not path:
                    path = "/"
                if owner != 0:
                    self.ephemeral.append(path)
                elif not path.startswith(_SYSTEM) or kept(path):
                    # `_zk_tree.data_digest`, inlined
                    tree[path] = sha256(view[data_at:data_end]).hexdigest()[:32]
                self.nodes += 1
                pos = self._pos = after
        finally:
            view.release()


class ThreadedReader:
    """A `SnapshotReader` fed in a thread of its own, so the snapshot is parsed while the
    caller compresses, hashes and writes the same bytes (which release the GIL): the
    parse no longer adds its time to the stream's. `feed` blocks only when `depth`
    chunks wait; use it as a context manager (the thread ends with the block)."""

    def __init__(self, depth: int = 8) -> None:
        self.reader = SnapshotReader()
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="zk-snapshot-reader")
        self._thread.start()

    def _work(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if self._error is None:  # after an error, drain so `feed` never blocks
                try:
                    self.reader.feed(chunk)
                except BaseException as exc:  # handed to the caller by feed/facts
                    self._error = exc

    def feed(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._chunks.put(chunk)

    def facts(self) -> dict[str, Any]:
        """The facts once every chunk fed was parsed (see `SnapshotReader.facts`)."""
        self.close()
        if self._error is not None:
            raise self._error
        return self.reader.facts()

    def close(self) -> None:
        if self._thread.is_alive():
            self._chunks.put(None)
            self._thread.join()

    def __enter__(self) -> ThreadedReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
