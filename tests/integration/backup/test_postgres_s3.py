"""PostgreSQL backed up into a real S3 server (versitygw), encrypted: WAL is archived by
walpush into S3 (encrypted), verify and a restore of a wiped data directory fetch it
back; while S3 is down PostgreSQL keeps running, pg_wal stays bounded (segments past
`max_wal_backlog_mb` are dropped and reported), and once S3 is back archiving catches up."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from leapfrog.backup import Engine, Store, driver_for, open_storage
from leapfrog.backup.s3 import S3Storage
from leapfrog.components.postgres import GAPS_DIR, PGDATA, socket_dir
from leapfrog.shared.named_secrets import named_secrets
from leapfrog.testing import RunningComponent, wait_until
from tests.s3_server import S3_ACCESS, S3_BUCKET, S3_SECRET, S3Server

from .conftest import own_component

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

ADDRESS = "127.0.0.73"
LIMIT_MB = 64
PREFIX = "pg-encrypted"


@pytest.fixture(scope="module")
def pg(s3_server: S3Server) -> Iterator[RunningComponent]:
    options: dict[str, Any] = {
        "databases": {"shop": {}},
        "backups": {
            "storage": f"s3://{S3_BUCKET}/{PREFIX}",
            "s3": {
                "endpoint": s3_server.endpoint,
                "access_key_secret": "s3-access",
                "secret_key_secret": "s3-secret",
            },
            "encryption": "pg-backup-key",
            "archive_timeout": 0,
            "max_wal_backlog_mb": LIMIT_MB,
        },
    }
    with own_component("postgres", options, ADDRESS) as running:
        secrets = named_secrets(running.where.data_dir.parent.parent)
        secrets.set("s3-access", S3_ACCESS)
        secrets.set("s3-secret", S3_SECRET)
        yield running


def make_engine(pg: RunningComponent) -> Engine:
    state = pg.where.data_dir.parent.parent
    storage = open_storage(pg.options.backups, state)
    store = Store("postgres", pg.component, pg.options, pg.where, pg.installation)
    return Engine(store, driver_for("postgres"), storage, state / "backups")


def connect(pg: RunningComponent, db: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(
        host=str(socket_dir(pg.where)),
        port=pg.where.port,
        user="postgres",
        dbname=db,
        autocommit=True,
    )


def archiver(conn: psycopg.Connection) -> tuple[int, int, str]:
    row = conn.execute(
        "SELECT archived_count, failed_count, coalesce(last_archived_wal, '') FROM pg_stat_archiver"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), str(row[2])


def waiting_segments(pg: RunningComponent) -> int:
    status = pg.where.data_dir / PGDATA / "pg_wal" / "archive_status"
    return len(list(status.glob("*.ready")))


def test_wal_in_s3_encrypted_survives_s3_down_and_restores(
    pg: RunningComponent, s3_server: S3Server
) -> None:
    with connect(pg, "shop") as conn:
        conn.execute("CREATE TABLE orders (id int primary key, item text)")
        conn.execute("INSERT INTO orders SELECT i, 'item ' || i FROM generate_series(1, 500) i")
    engine = make_engine(pg)
    assert isinstance(engine.storage, S3Storage)
    record = engine.run_backup()
    assert record.state == "succeeded", record.reason
    (manifest,) = engine.backups()
    segment = manifest.position["verify_wal"]
    s3 = s3_server.client()
    stored = s3.get_object(Bucket=S3_BUCKET, Key=f"{PREFIX}/postgres/wal/{segment}")["Body"].read()
    assert stored.startswith(b"LFE1")  # the WAL is encrypted too
    config = pg.where.data_dir / "wal-archive.json"
    assert config.stat().st_mode & 0o777 == 0o600

    verified = engine.verify(manifest.id)  # replays WAL fetched from S3 and decrypted
    assert verified.state == "succeeded", verified.reason

    gaps = pg.where.data_dir / GAPS_DIR
    conn = connect(pg)
    backlog: list[int] = []
    s3_server.stop()
    try:
        _, failed_before, _ = archiver(conn)
        conn.execute("CREATE TABLE filler (pad text)")
        # One push failing while the backlog is small: PostgreSQL counts it and keeps the
        # segment. (Churned at once, a slow first failure could find the backlog already
        # past the limit, drop the segment and count nothing: seen once under load.)
        conn.execute("SELECT pg_switch_wal()")
        wait_until(
            lambda: archiver(conn)[1] > failed_before, timeout=90, what="a failed push counted"
        )

        def churn() -> bool:
            conn.execute("INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, 500)")
            conn.execute("SELECT pg_switch_wal()")
            backlog.append(waiting_segments(pg))
            return gaps.is_dir() and any(gaps.iterdir())

        wait_until(churn, timeout=180, interval=0.5, what="a dropped segment")
        wait_until(lambda: waiting_segments(pg) <= LIMIT_MB // 16 + 1, timeout=90)
        assert max(backlog) > LIMIT_MB // 16  # past the limit: more than 64 MB were waiting
        _, failed, _ = archiver(conn)
        assert failed > failed_before
        conn.execute("INSERT INTO filler VALUES ('still writable')")
    finally:
        s3_server.start()
    log = pg.log_path.read_text(errors="replace")
    assert "leapfrog archive: WARNING cannot archive" in log
    assert "is not answering" in log

    # S3 is back: the next segments are archived again.
    conn.execute("INSERT INTO filler VALUES ('after')")
    row = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()
    assert row is not None
    conn.execute("SELECT pg_switch_wal()")
    wait_until(lambda: archiver(conn)[2] >= row[0], timeout=60, what="archiving caught up")
    wait_until(lambda: waiting_segments(pg) == 0, timeout=60, what="no segment waiting")
    conn.close()
    notes = engine.driver.describe(engine.store, engine.storage, engine.backups())
    assert any(note.startswith("WAL GAP") for note in notes), notes

    # A new base backup closes the gap; a restore of a wiped data directory replays
    # the WAL from S3 to the end.
    assert engine.run_backup().state == "succeeded"
    with connect(pg, "shop") as shop:
        shop.execute("INSERT INTO orders VALUES (501, 'after the backup')")
        shop.execute("SELECT pg_switch_wal()")
    wait_until(lambda: waiting_segments(pg) == 0, timeout=60, what="no segment waiting")
    pg.stop()
    shutil.rmtree(pg.where.data_dir / PGDATA)
    shutil.rmtree(pg.where.data_dir / GAPS_DIR, ignore_errors=True)
    newest = engine.backups()[-1]
    restored = engine.restore(newest, None)
    assert restored.state == "succeeded", restored.reason
    pg.start()
    with connect(pg, "shop") as shop:
        row = shop.execute("SELECT count(*), max(item) FILTER (WHERE id = 501) FROM orders")
        assert row.fetchone() == (501, "after the backup")


def test_encrypted_wal_in_a_directory_storage() -> None:
    """walpush on the directory storage: segments land encrypted in `postgres/wal/`."""
    options: dict[str, Any] = {
        "backups": {"encryption": "pg-dir-key", "archive_timeout": 0},
    }
    with own_component("postgres", options, "127.0.0.74") as dir_pg:
        engine = make_engine(dir_pg)
        assert not isinstance(engine.storage, S3Storage)
        record = engine.run_backup()
        assert record.state == "succeeded", record.reason
        (manifest,) = engine.backups()
        archive = dir_pg.where.data_dir.parent.parent / "backups" / "postgres" / "wal"
        segment = archive / manifest.position["verify_wal"]
        assert segment.read_bytes().startswith(b"LFE1")
        assert all(o.encryption == "aes-256-gcm" for o in manifest.objects)
        verified = engine.verify(manifest.id)
        assert verified.state == "succeeded", verified.reason
