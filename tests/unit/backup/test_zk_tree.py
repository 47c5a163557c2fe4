"""Reading SnapshotFormatter's output: persistent znodes kept, ephemeral and system ones not."""

from __future__ import annotations

import base64
import hashlib

from leapfrog.backup._zk_tree import diff_trees, parse_formatter, summary


def _node(path: str, data: bytes, owner: int = 0) -> str:
    encoded = base64.b64encode(data).decode()
    return (
        f"----\n{path}\n  cZxid = 0x00000000000003\n  dataVersion = 0\n"
        f"  ephemeralOwner = 0x{owner:014x}\n  data = {encoded}\n"
    )


FORMATTED = (
    "ZNode Details (count=5):\n"
    + _node("/", b"")
    + _node("/a", b"hello")
    + _node("/a/lock", b"x", owner=0x1000A)
    + _node("/zookeeper", b"")
    + _node("/zookeeper/quota", b"")
    + "----\nSession Details (sid, timeout, ephemeralCount):\n0x1000a, 30000, 1\n"
)


def test_persistent_znodes_are_kept_with_their_data_hash() -> None:
    tree, ephemeral = parse_formatter(FORMATTED)
    assert sorted(tree) == ["/", "/a"]
    assert tree["/a"] == hashlib.sha256(b"hello").hexdigest()[:32]
    assert ephemeral == ["/a/lock"]


def test_differences_name_the_paths() -> None:
    tree, _ = parse_formatter(FORMATTED)
    changed = {**tree, "/a": "0" * 32, "/b": "1" * 32}
    del changed["/"]
    assert diff_trees(tree, changed) == ["/ missing", "/a data differs", "/b not in the backup"]
    assert summary(tree)["tree_sha256"] != summary(changed)["tree_sha256"]
