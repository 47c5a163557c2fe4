"""ZooKeeper backup and restore: `leapfrog.backup`'s snapshot against the AdminServer's
streaming snapshot fetched by curl alone into a file, in the same run.

Both ask the same server (`--size-mb` of znode data, default 64, in 4 KiB znodes)
for `GET /commands/snapshot?streaming=true`. The driver's figure covers what a backup
is: the stream into the storage with sha256 (zstd unless --no-compress), read back,
and the facts (every znode's path and data hash, read from the snapshot's own bytes as
they stream by leapfrog's reader of ZooKeeper's snapshot format, its checksum checked).
Verification (a scratch server on the snapshot, the
tree compared) is timed separately.

Restore, until the server answers again: by hand, the server stopped, `version-2/`
replaced by curl's file named `snapshot.<zxid>`, the server started; leapfrog, the
server stopped, `Engine.restore` (the snapshot extracted with its sha256 checked and
placed, ephemeral nodes dropped by a scratch server), the server started.

    .venv/bin/python bench/backup_zookeeper.py [--size-mb 64] [--rounds 2] [--json]
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from kazoo.client import KazooClient  # type: ignore[import-untyped]

from _shared import (
    BenchError,
    backup_args,
    backup_rounds,
    compared,
    emit,
    engine_for,
    loadavg,
    progress,
    restarted,
    restore_rounds,
    run_bench,
    succeeded,
    verify_seconds,
)
from leapfrog.backup._pg_scratch import chown_tree
from leapfrog.components.zookeeper import DATA
from leapfrog.testing import RunningComponent, run_component

ADDRESS = "127.0.0.62"
_NODE = 4096


def fill(zk: RunningComponent, size_mb: int) -> int:
    client = KazooClient(hosts=zk.env()["ZOOKEEPER_CONNECT"], timeout=30)
    client.start(timeout=60)
    try:
        client.ensure_path("/bench")
        count = size_mb * (1 << 20) // _NODE
        for start in range(0, count, 1000):
            waits = [
                client.create_async(f"/bench/n{i:07d}", secrets.token_bytes(_NODE))
                for i in range(start, min(count, start + 1000))
            ]
            for wait in waits:
                wait.get(timeout=60)
    finally:
        client.stop()
        client.close()
    return count * _NODE


def native_backup(zk: RunningComponent, target: Path) -> str:
    """curl's streaming snapshot into a file; the snapshot's zxid (a response header)."""
    url = f"http://{zk.where.address}:{zk.options.admin_port}/commands/snapshot?streaming=true"
    headers = target.with_suffix(".headers")
    subprocess.run(
        [
            "curl", "-sSf", "-o", str(target), "-D", str(headers),
            "-H", f"Authorization: digest bench:{secrets.token_hex(8)}", url,
        ],
        check=True,
    )  # fmt: skip
    for line in headers.read_text().splitlines():
        if line.lower().startswith("last_zxid:"):
            return line.split(":", 1)[1].strip().removeprefix("0x")
    raise BenchError("ZooKeeper's snapshot answer carries no last_zxid header")


def native_restore(zk: RunningComponent, snapshot: Path, zxid: str) -> None:
    data = zk.where.data_dir / DATA
    shutil.rmtree(data / "version-2")
    (data / "version-2").mkdir()
    shutil.copyfile(snapshot, data / "version-2" / f"snapshot.{int(zxid, 16):x}")
    chown_tree(data, zk.where.run_as)


def main() -> int:
    args = backup_args(__doc__ or "", size_mb=64).parse_args()
    base = Path(tempfile.mkdtemp(prefix="lf-bench-zk-"))
    base.chmod(0o755)
    # One snapshot per millisecond at most: the rounds must not be refused.
    options = {"port": 2191, "admin_port": 8099, "snapshot_interval_ms": 1, "heap": "1g"}
    result: dict[str, object] = {"store": "zookeeper", "loadavg_before": loadavg()}
    try:
        with run_component("zookeeper", options, base, address=ADDRESS) as zk:
            progress(f"filling {args.size_mb} MB ...")
            fill(zk, args.size_mb)
            engine = engine_for(zk, base / "backups")
            copy = base / "native.snapshot"
            cpu: dict[str, list[float]] = {}
            ours, theirs, manifest, zxid = backup_rounds(
                engine, args.rounds, not args.no_compress, lambda: native_backup(zk, copy), cpu
            )
            mb = copy.stat().st_size / (1 << 20)
            verify_s = verify_seconds(engine)
            ours_restore, theirs_restore = restore_rounds(
                args.rounds,
                lambda: restarted(zk, lambda: native_restore(zk, copy, zxid)),
                lambda: restarted(zk, lambda: succeeded(engine.restore(manifest, None))),
            )
        result |= {
            "snapshot_mb": round(mb, 1),
            "znodes": manifest.facts.get("znodes"),
            "compressed": not args.no_compress,
            "backup": compared(ours, theirs, "curl snapshot", mb),
            "backup_cpu_s": cpu,
            "verify_s": round(verify_s, 2),
            "restore": compared(ours_restore, theirs_restore, "snapshot file + start"),
            "loadavg_after": loadavg(),
        }
    finally:
        shutil.rmtree(base, ignore_errors=True)
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(run_bench(main))
