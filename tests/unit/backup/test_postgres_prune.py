"""PostgreSQL's WAL under calendar retention: a prune keeps every segment from the start
of the oldest kept physical backup on (a monthly keeper keeps the WAL after it), and
removes only what no kept backup needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from leapfrog.backup import DirectoryStorage, Store
from leapfrog.backup.manifest import Manifest, ObjectEntry
from leapfrog.backup.postgres import PostgresDriver
from leapfrog.backup.retention import Policy, plan_prune
from leapfrog.components import component
from leapfrog.components.base import Installation, Instance
from leapfrog.components.postgres import PostgresBackupOptions

T0 = datetime(2026, 9, 20, tzinfo=UTC)


def physical(n: int, when: datetime, segment: int) -> Manifest:
    obj = ObjectEntry(name="base.tar", size=1, raw_size=1, sha256="0" * 64, compression="none")
    return Manifest(
        id=f"{when:%Y%m%dT%H%M%SZ}-{n:04d}",
        store="postgres",
        kind="postgres",
        mode="physical",
        store_version="15",
        started=when,
        ended=when,
        position={"timeline": "1", "start_lsn": f"0/{segment * 0x1000000 + 0x28:X}"},
        objects=[obj],
        facts={},
    )


def test_wal_from_the_oldest_kept_backup_on_is_kept(tmp_path: Path) -> None:
    state = tmp_path / "state"
    where = Instance(
        "postgres",
        "postgres-1",
        "127.0.0.1",
        5432,
        state / "data" / "postgres-1",
        tmp_path,
        tmp_path,
    )
    options = SimpleNamespace(backups=PostgresBackupOptions())
    store = Store("postgres", component("postgres"), options, where, Installation("15", tmp_path))
    archive = state / "backups" / "postgres" / "wal"
    archive.mkdir(parents=True)
    segments = [f"00000001000000000000{n:04X}"[-24:] for n in range(1, 0x50)]
    for name in segments:
        (archive / name).write_bytes(b"")
    (archive / "00000002.history").write_bytes(b"")
    # one backup every 2 days for 60 days, each starting 1 segment after the previous
    backups = [physical(n, T0 + timedelta(days=2 * n), 0x10 + n) for n in range(30)]
    plan = plan_prune(backups, Policy(keep_last=2, keep_monthly=3), {})
    oldest = min(plan.keep, key=lambda m: m.ended)
    assert f"{oldest.ended:%Y-%m}" == "2026-09"  # the monthly keeper of September
    removed = PostgresDriver().prune(store, DirectoryStorage(state / "backups"), plan.keep)
    first_needed = 0x10 + backups.index(oldest)
    assert removed == segments[: first_needed - 1]
    left = sorted(p.name for p in archive.iterdir())
    assert left == sorted([*segments[first_needed - 1 :], "00000002.history"])
