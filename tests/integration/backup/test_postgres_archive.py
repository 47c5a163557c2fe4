"""When the backup storage cannot take WAL, PostgreSQL keeps running: pg_wal grows only
to `max_wal_backlog_mb`, then segments are dropped, logged and reported as a gap that
the next backup closes."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from leapfrog.components.postgres import GAPS_DIR, socket_dir
from leapfrog.testing import RunningComponent, run_component, scratch_dir, wait_until

from .conftest import make_engine

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

LIMIT_MB = 64


@pytest.fixture(scope="module")
def small_backlog() -> Iterator[RunningComponent]:
    with scratch_dir("lf-backup-arch-") as base:
        options = {"backups": {"archive_timeout": 0, "max_wal_backlog_mb": LIMIT_MB}}
        with run_component("postgres", options, base, address="127.0.0.58") as running:
            yield running


def waiting_segments(pg: RunningComponent) -> int:
    status = pg.where.data_dir / "pgdata" / "pg_wal" / "archive_status"
    return len(list(status.glob("*.ready")))


def test_archive_failure_drops_wal_past_the_limit_and_says_so(
    small_backlog: RunningComponent,
) -> None:
    pg = small_backlog
    engine = make_engine(pg)
    assert engine.run_backup().state == "succeeded"
    archive = pg.where.data_dir.parent.parent / "backups" / "postgres" / "wal"
    gaps = pg.where.data_dir / GAPS_DIR
    archive.chmod(0o500)  # the storage is "down" for the server's user
    conn = psycopg.connect(
        host=str(socket_dir(pg.where)), port=pg.where.port, user="postgres", autocommit=True
    )
    try:
        conn.execute("CREATE TABLE filler (pad text)")
        backlog: list[int] = []

        def churn() -> bool:
            conn.execute("INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, 500)")
            conn.execute("SELECT pg_switch_wal()")
            backlog.append(waiting_segments(pg))
            return gaps.is_dir() and any(gaps.iterdir())

        wait_until(churn, timeout=120, interval=0.5, what="a dropped segment")
        for _ in range(8):  # more WAL: the backlog stays bounded
            churn()
        # Between two attempts of the archiver (it retries a failing segment 3 times, a
        # second apart) the server may write more; the next attempt drains to the limit.
        wait_until(lambda: waiting_segments(pg) <= LIMIT_MB // 16 + 1, timeout=60)
        assert max(backlog) > LIMIT_MB // 16 + 1  # the limit was really reached
        row = conn.execute("SELECT failed_count FROM pg_stat_archiver").fetchone()
        assert row is not None and row[0] > 0
        conn.execute("INSERT INTO filler VALUES ('still writable')")
    finally:
        archive.chmod(0o700)
        conn.close()
    assert "WARNING cannot write" in pg.log_path.read_text(errors="replace")
    notes = engine.driver.describe(engine.store, engine.storage, engine.backups())
    assert any(note.startswith("WAL GAP") for note in notes), notes

    assert engine.run_backup().state == "succeeded"  # a new base backup closes the gap
    notes = engine.driver.describe(engine.store, engine.storage, engine.backups())
    assert not any(note.startswith("WAL GAP") for note in notes), notes
