"""PostgreSQL backup and restore: `leapfrog.backup`'s physical backup against
`pg_basebackup` alone writing the same tar to a directory, in the same run.

Both read the same cluster (`--size-mb` of table data, default 1024) over the same
Unix socket. The driver's figure covers what a backup is: streaming the tar into the
storage with sha256 (zstd unless --no-compress), reading every object back, the per
table facts in a snapshot fixed with a restore point, and waiting for that point's WAL
in the archive. Verification (a restore into a scratch server and the table
comparison) is timed separately.

Restore: by hand, `tar -xf` of pg_basebackup's tar into an empty directory and
PostgreSQL started on it until it accepts connections (its crash recovery from the
backup label), then stopped; leapfrog, `Engine.restore` (extract, recovery from the
WAL archive, promote, stop). Neither includes starting the instance afterwards.

    .venv/bin/python bench/backup_postgres.py [--size-mb 1024] [--rounds 2] [--json]
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

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
from leapfrog.backup._pg_scratch import chown_tree
from leapfrog.components.postgres import socket_dir
from leapfrog.testing import RunningComponent, run_component


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


def _bin(pg: RunningComponent, name: str) -> str:
    return str(Path(pg.installation.extra["bin"]) / name)


def native_backup(pg: RunningComponent, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(
        [
            _bin(pg, "pg_basebackup"),
            *("-h", str(socket_dir(pg.where)), "-p", str(pg.where.port), "-U", "postgres"),
            *("-D", str(target), "-Ft", "-X", "fetch", "--checkpoint=fast", "--no-password"),
        ],
        check=True,
    )


def native_restore(pg: RunningComponent, tar: Path, into: Path) -> None:
    """Extract, start PostgreSQL on it until it answers, stop it: by hand."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(mode=0o700)
    subprocess.run(["tar", "-xf", str(tar), "-C", str(into)], check=True)
    chown_tree(into, pg.where.run_as)
    sockets = Path(tempfile.mkdtemp(prefix="lf-bench-pgs-"))
    chown_tree(sockets, pg.where.run_as)
    user = (
        {"user": pg.where.run_as[0], "group": pg.where.run_as[1], "extra_groups": []}
        if pg.where.run_as
        else {}
    )
    settings = {
        "listen_addresses": "",
        "unix_socket_directories": str(sockets),
        "port": "5432",
        "archive_mode": "off",
        "logging_collector": "off",
    }
    argv = [_bin(pg, "postgres"), "-D", str(into)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    with (into.parent / "native-restore.log").open("wb") as log:
        server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **user)  # type: ignore[call-overload]
    try:
        deadline = time.monotonic() + 300
        while (
            subprocess.run(
                [_bin(pg, "pg_isready"), "-q", "-h", str(sockets), "-p", "5432"], check=False
            ).returncode
            != 0
        ):
            if server.poll() is not None or time.monotonic() > deadline:
                raise BenchError("PostgreSQL did not start on the extracted backup")
            time.sleep(0.02)
    finally:
        server.send_signal(signal.SIGINT)  # fast shutdown
        server.wait(60)
        shutil.rmtree(sockets, ignore_errors=True)


def main() -> int:
    parser = backup_args(__doc__ or "", size_mb=1024)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="lf-bench-backup-"))
    base.chmod(0o755)
    options = {"backups": {"archive_timeout": 0}}
    result: dict[str, object] = {"store": "postgres", "loadavg_before": loadavg()}
    try:
        with run_component("postgres", options, base, address="127.0.0.59") as pg:
            progress(f"filling {args.size_mb} MB ...")
            mb = fill(pg, args.size_mb) / (1 << 20)
            engine = engine_for(pg, base / "backups")
            ours, theirs, manifest, _ = backup_rounds(
                engine,
                args.rounds,
                not args.no_compress,
                lambda: native_backup(pg, base / "native"),
            )
            verify_s = verify_seconds(engine)
            pg.stop()
            ours_restore, theirs_restore = restore_rounds(
                args.rounds,
                lambda: native_restore(pg, base / "native" / "base.tar", base / "by-hand"),
                lambda: succeeded(engine.restore(manifest, None)),
            )
        result |= {
            "database_mb": round(mb),
            "compressed": not args.no_compress,
            "backup": compared(ours, theirs, "pg_basebackup", mb),
            "facts_scan_s (last, overlapped)": manifest.facts["scan_seconds"],
            "verify_s": round(verify_s, 1),
            "restore": compared(ours_restore, theirs_restore, "tar -x + postgres start"),
            "loadavg_after": loadavg(),
        }
    finally:
        shutil.rmtree(base, ignore_errors=True)
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(run_bench(main))
