"""OpenSearch backup and restore: `leapfrog.backup`'s snapshot against an `fs`
snapshot taken by REST alone, in the same run.

The data: `--indices` (2) indices holding `--size-mb` (256) of JSON documents in all,
bulk-loaded and refreshed. By hand: a second `fs` repository beside leapfrog's (under
the node's `path.repo`), `PUT _snapshot/<repo>/<name>?wait_for_completion=true` of the
same indices, and the older snapshot deleted. Both repositories start empty, so both
first rounds copy every segment and later rounds only what changed (nothing): the
median is over the same kind of round on both sides. The driver's figure covers what a
backup is: the snapshot, per index the document count and a hash of the ids (the
previous backup's for an index the snapshot copied no file of), and the repository
stored: each data blob one shared object with sha256 (zstd unless --no-compress), read
back, unless the previous backup stored it already (then referred to), the metadata
one object. Verification (the snapshot restored under other names and compared) is timed
separately.

Restore into the running node: by hand, the indices deleted and `POST
_snapshot/<repo>/<name>/_restore?wait_for_completion=true`; leapfrog, `Engine.restore`
(the objects unpacked into a repository, each one's sha256 checked as it is, the
indices deleted and restored from it).

    .venv/bin/python bench/backup_opensearch.py [--size-mb 256] [--rounds 2] [--json]
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from _shared import (
    BenchError,
    backup_args,
    backup_rounds,
    compared,
    emit,
    engine_for,
    loadavg,
    progress,
    restore_rounds,
    run_bench,
    succeeded,
    verify_seconds,
)
from leapfrog.shared.ports import free_port
from leapfrog.testing import run_component

ADDRESS = "127.0.0.64"
REPO = "bench-native"
_DOC = 1024


def call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    response = client.request(method, path, **kwargs)
    if response.status_code >= 300:
        raise BenchError(f"{method} {path}: {response.status_code} {response.text[:300]}")
    return response.json()


def fill(client: httpx.Client, size_mb: int, indices: list[str]) -> None:
    count = size_mb * (1 << 20) // _DOC
    for index in indices:
        call(client, "PUT", f"/{index}", json={"settings": {"number_of_replicas": 0}})
    lines: list[str] = []
    for i in range(count):
        index = indices[i % len(indices)]
        lines.append(json.dumps({"index": {"_index": index, "_id": str(i)}}))
        lines.append(json.dumps({"n": i, "text": secrets.token_hex(_DOC // 2 - 40)}))
        if len(lines) >= 4000 or i == count - 1:
            answer = call(
                client,
                "POST",
                "/_bulk",
                content="\n".join(lines) + "\n",
                headers={"Content-Type": "application/x-ndjson"},
            )
            if answer.get("errors"):
                raise BenchError("the bulk load reported errors")
            lines = []
    call(client, "POST", "/_refresh")
    call(client, "POST", "/_flush")


def native_backup(client: httpx.Client, indices: list[str], previous: str | None) -> str:
    name = f"bench-{secrets.token_hex(4)}"
    body = {"indices": ",".join(indices), "include_global_state": False}
    answer = call(
        client, "PUT", f"/_snapshot/{REPO}/{name}", params={"wait_for_completion": "true"},
        json=body,
    )  # fmt: skip
    if answer["snapshot"]["state"] != "SUCCESS":
        raise BenchError(f"the native snapshot ended {answer['snapshot']['state']}")
    if previous:
        call(client, "DELETE", f"/_snapshot/{REPO}/{previous}")
    return name


def native_restore(client: httpx.Client, indices: list[str], name: str) -> None:
    call(client, "DELETE", "/" + ",".join(indices))
    call(
        client, "POST", f"/_snapshot/{REPO}/{name}/_restore",
        params={"wait_for_completion": "true"},
        json={"indices": ",".join(indices), "include_global_state": False},
    )  # fmt: skip


def repository_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / (1 << 20)


def main() -> int:
    parser = backup_args(__doc__ or "", size_mb=256)
    parser.add_argument("--indices", type=int, default=2)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="lf-bench-os-"))
    base.chmod(0o755)
    options = {"port": free_port(ADDRESS), "transport_port": free_port(ADDRESS), "heap": "512m"}
    indices = [f"bench-{i}" for i in range(args.indices)]
    result: dict[str, object] = {"store": "opensearch", "loadavg_before": loadavg()}
    try:
        with (
            run_component("opensearch", options, base, address=ADDRESS) as node,
            httpx.Client(base_url=node.env()["OPENSEARCH_URL"], timeout=600) as client,
        ):
            progress(f"filling {args.size_mb} MB ...")
            fill(client, args.size_mb, indices)
            repo = node.where.data_dir / "snapshots" / REPO
            call(
                client,
                "PUT",
                f"/_snapshot/{REPO}",
                json={"type": "fs", "settings": {"location": str(repo)}},
            )
            engine = engine_for(node, base / "backups")
            names: list[str] = []

            def native() -> str:
                names.append(native_backup(client, indices, names[-1] if names else None))
                return names[-1]

            ours, theirs, manifest, name = backup_rounds(
                engine, args.rounds, not args.no_compress, native
            )
            mb = repository_mb(repo)
            verify_s = verify_seconds(engine)
            ours_restore, theirs_restore = restore_rounds(
                args.rounds,
                lambda: native_restore(client, indices, name),
                lambda: succeeded(engine.restore(manifest, None)),
            )
        result |= {
            "repository_mb": round(mb, 1),
            "compressed": not args.no_compress,
            "first_round": {"leapfrog_s": round(ours[0], 2), "native_s": round(theirs[0], 2)},
            "backup": compared(ours, theirs, "fs snapshot by REST", mb),
            "verify_s": round(verify_s, 1),
            "restore": compared(ours_restore, theirs_restore, "snapshot restore by REST"),
            "loadavg_after": loadavg(),
        }
    finally:
        shutil.rmtree(base, ignore_errors=True)
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(run_bench(main))
