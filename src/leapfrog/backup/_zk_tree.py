"""What a ZooKeeper snapshot or server holds: every persistent znode's path and a hash
of its data (ephemeral nodes and ZooKeeper's own `/zookeeper` tree left out), read
from a snapshot's bytes (`_zk_snapshot.py`) or from a server by kazoo."""

from __future__ import annotations

import hashlib
from typing import Any

from kazoo.client import KazooClient  # type: ignore[import-untyped]

__all__ = ["data_digest", "diff_trees", "kept", "server_tree", "summary"]

_SYSTEM = "/zookeeper"
_BATCH = 500
_TIMEOUT = 60.0


def kept(path: str) -> bool:
    return path != _SYSTEM and not path.startswith(_SYSTEM + "/")


def data_digest(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def server_tree(client: KazooClient) -> tuple[dict[str, str], list[str]]:
    """The server's persistent znodes ({path: data hash}) and its ephemeral paths."""
    tree: dict[str, str] = {}
    ephemeral: list[str] = []
    level = ["/"]
    while level:
        deeper: list[str] = []
        # Asynchronous requests a batch at a time: one round trip per batch, not per node.
        for start in range(0, len(level), _BATCH):
            paths = level[start : start + _BATCH]
            asked = [(p, client.get_async(p), client.get_children_async(p)) for p in paths]
            for path, got, children in asked:
                data, stat = got.get(timeout=_TIMEOUT)
                if stat.ephemeralOwner:
                    ephemeral.append(path)
                elif kept(path):
                    tree[path] = data_digest(data or b"")
                prefix = path.rstrip("/")
                deeper.extend(f"{prefix}/{child}" for child in children.get(timeout=_TIMEOUT))
        level = deeper
    return tree, ephemeral


def summary(tree: dict[str, str]) -> dict[str, Any]:
    """Count and one hash of the whole tree, for the manifest."""
    whole = hashlib.sha256()
    for path in sorted(tree):
        whole.update(f"{path}\0{tree[path]}\n".encode())
    return {"znodes": len(tree), "tree_sha256": whole.hexdigest(), "data": tree}


def diff_trees(expected: dict[str, str], found: dict[str, str]) -> list[str]:
    lines = []
    for path in sorted(set(expected) | set(found)):
        want, got = expected.get(path), found.get(path)
        if got is None:
            lines.append(f"{path} missing")
        elif want is None:
            lines.append(f"{path} not in the backup")
        elif want != got:
            lines.append(f"{path} data differs")
    return lines
