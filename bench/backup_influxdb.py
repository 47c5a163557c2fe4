"""InfluxDB backup and restore: `leapfrog.backup` against `influxd backup -portable`
alone into a directory, in the same run.

The data: one database holding `--size-mb` (128) of line protocol (`--series` series
of one measurement, four fields a point), written over HTTP. By hand: `influxd backup
-portable -host <rpc> <dir>`. The driver's figure covers what a backup is: the same
command, each file it wrote stored as an object with sha256 (zstd unless
--no-compress; the shards' `.tar.gz` as they are) and read back, and the facts (series
counts per measurement from the server while the tool runs, values per field counted
from the server's TSM files after it, `position.counted`; before and after the tool
when the shards' write counters moved).
Verification (a scratch server restored from the objects and compared) is timed
separately.

Restore into the running server: by hand, `DROP DATABASE` and `influxd restore
-portable -db <db>` from the directory; leapfrog, `Engine.restore` (the objects
extracted with each one's sha256 checked, then the same commands).

    .venv/bin/python bench/backup_influxdb.py [--size-mb 128] [--rounds 2] [--json]
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

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
from leapfrog.testing import RunningComponent, run_component

ADDRESS = "127.0.0.65"
DB = "bench"


def fill(url: str, size_mb: int, series: int) -> int:
    """Line protocol, a point every second per series; the bytes sent."""
    rng = random.Random(7)
    sent = 0
    start = 1_700_000_000
    batch: list[str] = []
    at = 0
    while sent < size_mb << 20:
        for s in range(series):
            batch.append(
                f"cpu,host=h{s:04d},region=r{s % 7} user={rng.random():.6f},"
                f"system={rng.random():.6f},idle={rng.random():.6f},n={at}i {start + at}"
            )
        at += 1
        if len(batch) >= 20_000:
            body = "\n".join(batch).encode()
            response = httpx.post(
                f"{url}/write", params={"db": DB, "precision": "s"}, content=body, timeout=120
            )
            if response.status_code != 204:
                raise BenchError(f"write: {response.status_code} {response.text[:200]}")
            sent += len(body)
            batch = []
    return sent


def _influxd(influx: RunningComponent) -> str:
    return str(influx.installation.extra["binary"])


def native_backup(influx: RunningComponent, folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    rpc = f"{influx.where.address}:{influx.options.rpc_port}"
    subprocess.run(
        [_influxd(influx), "backup", "-portable", "-host", rpc, str(folder)],
        check=True,
        capture_output=True,
    )


def native_restore(influx: RunningComponent, folder: Path, url: str) -> None:
    httpx.post(f"{url}/query", params={"q": f'DROP DATABASE "{DB}"'}, timeout=120)
    rpc = f"{influx.where.address}:{influx.options.rpc_port}"
    subprocess.run(
        [_influxd(influx), "restore", "-portable", "-host", rpc, "-db", DB, str(folder)],
        check=True,
        capture_output=True,
    )


def main() -> int:
    parser = backup_args(__doc__ or "", size_mb=128)
    parser.add_argument("--series", type=int, default=1000)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="lf-bench-influx-"))
    base.chmod(0o755)
    options = {
        "port": free_port(ADDRESS),
        "rpc_port": free_port(ADDRESS),
        "databases": {DB: {}},
    }
    result: dict[str, object] = {"store": "influxdb", "loadavg_before": loadavg()}
    try:
        with run_component("influxdb", options, base, address=ADDRESS) as influx:
            url = influx.env()["INFLUXDB_URL"]
            progress(f"filling {args.size_mb} MB of line protocol ...")
            fill(url, args.size_mb, args.series)
            engine = engine_for(influx, base / "backups")
            folder = base / "native"
            cpu: dict[str, list[float]] = {}
            ours, theirs, manifest, _ = backup_rounds(
                engine,
                args.rounds,
                not args.no_compress,
                lambda: native_backup(influx, folder),
                cpu,
            )
            mb = sum(p.stat().st_size for p in folder.iterdir()) / (1 << 20)
            verify_s = verify_seconds(engine)
            ours_restore, theirs_restore = restore_rounds(
                args.rounds,
                lambda: native_restore(influx, folder, url),
                lambda: succeeded(engine.restore(manifest, None)),
            )
        result |= {
            "backup_mb": round(mb, 1),
            "compressed": not args.no_compress,
            "backup": compared(ours, theirs, "influxd backup -portable", mb),
            "backup_cpu_s": cpu,
            "verify_s": round(verify_s, 1),
            "restore": compared(ours_restore, theirs_restore, "influxd restore -portable"),
            "loadavg_after": loadavg(),
        }
    finally:
        shutil.rmtree(base, ignore_errors=True)
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(run_bench(main))
