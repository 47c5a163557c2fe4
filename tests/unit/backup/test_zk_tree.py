"""Reading ZooKeeper's snapshot format as it streams: persistent znodes kept with their
data hash, ephemeral and system ones not; a damaged or cut snapshot is refused."""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib

import pytest

from leapfrog.backup._zk_snapshot import SnapshotReader, ThreadedReader
from leapfrog.backup._zk_tree import data_digest, diff_trees, summary
from leapfrog.backup.driver import BackupError


def _string(text: str | bytes | None) -> bytes:
    if text is None:
        return struct.pack(">i", -1)
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack(">i", len(raw)) + raw


def _node(path: str, data: bytes | None, owner: int = 0) -> bytes:
    stat = struct.pack(">qqqqiiiqq", 3, 3, 1, 1, 0, 0, 0, owner, 3)
    return _string(path) + _string(data) + struct.pack(">q", 1) + stat


def _snapshot(nodes: list[bytes]) -> bytes:
    """A snapshot as ZooKeeper's FileSnap writes it (jute's binary archive)."""
    body = b"ZKSN" + struct.pack(">iq", 2, -1)
    body += struct.pack(">i", 1) + struct.pack(">qi", 0x1000A, 30000)  # one session
    acl = struct.pack(">i", 31) + _string("world") + _string("anyone")
    body += struct.pack(">i", 1) + struct.pack(">q", 1) + struct.pack(">i", 1) + acl
    body += b"".join(nodes) + _string("/")
    sealed = body + struct.pack(">q", zlib.adler32(body)) + _string("/")
    digest = struct.pack(">qiq", 3, 2, 1234)
    return sealed + digest + struct.pack(">q", zlib.adler32(sealed + digest)) + _string("/")


SNAPSHOT = _snapshot([
    _node("", None),
    _node("/a", b"hello"),
    _node("/a/lock", b"x", owner=0x1000A),
    _node("/zookeeper", b""),
    _node("/zookeeper/quota", b""),
    _node("/b", b"\x00" * 5000),
    _node("/zookeeperish", b"mine"),
])  # fmt: skip


def _read(data: bytes, chunk: int) -> dict[str, object]:
    reader = SnapshotReader()
    for start in range(0, len(data), chunk):
        reader.feed(data[start : start + chunk])
    return reader.facts()


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_persistent_znodes_are_kept_with_their_data_hash(chunk: int) -> None:
    facts = _read(SNAPSHOT, chunk)
    tree = facts["data"]
    assert isinstance(tree, dict)
    assert sorted(tree) == ["/", "/a", "/b", "/zookeeperish"]
    assert tree["/a"] == data_digest(b"hello") == hashlib.sha256(b"hello").hexdigest()[:32]
    assert tree["/"] == hashlib.sha256(b"").hexdigest()[:32]
    assert facts["ephemeral"] == ["/a/lock"]
    assert facts["znodes"] == 4
    assert facts["tree_sha256"] == summary(tree)["tree_sha256"]


def test_a_gzip_snapshot_is_read_too() -> None:
    assert _read(gzip.compress(SNAPSHOT), 100) == _read(SNAPSHOT, 100)


def test_a_damaged_snapshot_fails_its_checksum() -> None:
    damaged = bytearray(SNAPSHOT)
    damaged[SNAPSHOT.index(b"hello")] ^= 0x01
    with pytest.raises(BackupError, match="checksum"):
        _read(bytes(damaged), 64)


def test_a_cut_snapshot_is_not_facts() -> None:
    with pytest.raises(BackupError, match="ended early"):
        _read(SNAPSHOT[: len(SNAPSHOT) // 2], 64)


def test_something_else_is_refused() -> None:
    with pytest.raises(BackupError, match="not a ZooKeeper snapshot"):
        _read(b"<html>" + bytes(100), 64)


def test_differences_name_the_paths() -> None:
    tree = _read(SNAPSHOT, 4096)["data"]
    assert isinstance(tree, dict)
    changed = {**tree, "/a": "0" * 32, "/c": "1" * 32}
    del changed["/"]
    assert diff_trees(tree, changed) == ["/ missing", "/a data differs", "/c not in the backup"]
    assert summary(tree)["tree_sha256"] != summary(changed)["tree_sha256"]


def test_the_threaded_reader_reads_what_the_reader_reads() -> None:
    with ThreadedReader(depth=2) as threaded:
        for start in range(0, len(SNAPSHOT), 7):
            threaded.feed(SNAPSHOT[start : start + 7])
        assert threaded.facts() == _read(SNAPSHOT, 7)


def test_the_threaded_reader_hands_a_damaged_snapshot_to_its_caller() -> None:
    damaged = bytearray(SNAPSHOT)
    damaged[SNAPSHOT.index(b"hello")] ^= 0x01
    with ThreadedReader() as threaded:
        threaded.feed(bytes(damaged))
        with pytest.raises(BackupError, match="checksum"):
            threaded.facts()


def test_the_threaded_reader_refuses_what_is_no_snapshot_and_ends_its_thread() -> None:
    with ThreadedReader(depth=1) as threaded:
        threaded.feed(b"NOPE" + b"\0" * 20)
        with pytest.raises(BackupError, match="not a ZooKeeper snapshot"):
            for _ in range(10):  # raised by a later feed, or by facts()
                threaded.feed(b"\0" * 100)
            threaded.facts()
    assert not threaded._thread.is_alive()
