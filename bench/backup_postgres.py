"""PostgreSQL backup throughput: `leapfrog.backup`'s physical backup against
`pg_basebackup` alone writing the same tar to a directory, in the same run.

Both read the same cluster (`--size-mb` of table data, default 1024) over the same
Unix socket. The driver's figure covers what a backup is: streaming the tar into the
storage with sha256 (zstd unless --no-compress), reading every object back, the per
table facts, the restore point and waiting for its WAL in the archive. Verification
(a restore into a scratch server and the table comparison) is timed separately.

    .venv/bin/python bench/backup_postgres.py [--size-mb 1024] [--rounds 3] [--json]

Progress goes to stderr, results to stdout; exit 0 when everything was measured
(whether or not the 0.9x target was met), 1 when a run failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from leapfrog.backup import DirectoryStorage, Engine, Store, driver_for
from leapfrog.components.postgres import socket_dir
from leapfrog.testing import RunningComponent, run_component

TARGET = 0.9


def fill(pg: RunningComponent, size_mb: int) -> int:
    with psycopg.connect(
        host=str(socket_dir(pg.where)), port=pg.where.port, user="postgres", autocommit=True
    ) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS filler (id bigint, pad text)")
        rows = size_mb * 1024 * 1024 // 560  # ~560 bytes a row on disk
        step = 200_000
        for start in range(0, rows, step):
            conn.execute(
                "INSERT INTO filler SELECT i, md5(i::text) || repeat(md5((i * 31)::text), 15) "
                "FROM generate_series(%s, %s) i",
                [start, min(rows, start + step) - 1],
            )
        conn.execute("CHECKPOINT")
        row = conn.execute("SELECT pg_database_size('postgres')").fetchone()
    assert row is not None
    return int(row[0])


def native(pg: RunningComponent, target: Path) -> float:
    shutil.rmtree(target, ignore_errors=True)
    started = time.monotonic()
    subprocess.run(
        [
            str(Path(pg.installation.extra["bin"]) / "pg_basebackup"),
            "-h",
            str(socket_dir(pg.where)),
            "-p",
            str(pg.where.port),
            "-U",
            "postgres",
            "-D",
            str(target),
            "-Ft",
            "-X",
            "fetch",
            "--checkpoint=fast",
            "--no-password",
        ],
        check=True,
    )
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-compress", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="lf-bench-backup-"))
    base.chmod(0o755)
    options = {"backups": {"archive_timeout": 0}}
    try:
        with run_component("postgres", options, base, address="127.0.0.59") as pg:
            print(f"filling {args.size_mb} MB ...", file=sys.stderr)
            size = fill(pg, args.size_mb)
            root = base / "backups"
            store = Store("postgres", pg.component, pg.options, pg.where, pg.installation)
            engine = Engine(store, driver_for("postgres"), DirectoryStorage(root), root)
            ours: list[float] = []
            scans: list[float] = []
            theirs: list[float] = []
            for n in range(args.rounds):
                print(f"round {n + 1}/{args.rounds}", file=sys.stderr)
                theirs.append(native(pg, base / "native"))
                started = time.monotonic()
                record = engine.run_backup(compress=not args.no_compress)
                ours.append(time.monotonic() - started)
                if record.state != "succeeded":
                    print(f"backup failed: {record.reason}", file=sys.stderr)
                    return 1
                scans.append(float(engine.find(record.backup).facts["scan_seconds"]))
                engine.prune(1)
            started = time.monotonic()
            verified = engine.verify()
            verify_s = time.monotonic() - started
            if verified.state != "succeeded":
                print(f"verify failed: {verified.reason}", file=sys.stderr)
                return 1
    finally:
        shutil.rmtree(base, ignore_errors=True)
    mb = size / (1 << 20)
    ours_rate, theirs_rate = mb / statistics.median(ours), mb / statistics.median(theirs)
    result = {
        "database_mb": round(mb),
        "compressed": not args.no_compress,
        "leapfrog_mb_s": round(ours_rate, 1),
        "pg_basebackup_mb_s": round(theirs_rate, 1),
        "ratio": round(ours_rate / theirs_rate, 2),
        "facts_scan_s": round(statistics.median(scans), 1),
        "ratio_without_facts_scan": round(
            statistics.median(theirs) / (statistics.median(ours) - statistics.median(scans)), 2
        ),
        "target": TARGET,
        "verify_s": round(verify_s, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
