"""The PostgreSQL driver against Debian's real PostgreSQL: round trip through a wiped
data directory, verify by restore (and a corrupt byte named), a store that is down,
point-in-time restore, the logical mode, and kill -9 of the backup process."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from leapfrog.backup._pg_facts import database_facts
from leapfrog.components.postgres import PGDATA, socket_dir
from leapfrog.testing import RunningComponent, wait_until

from .conftest import (
    assert_killed_run_is_failed_and_the_next_succeeds,
    kill_9_mid_run,
    make_engine,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def connect(pg: RunningComponent, database: str = "shop") -> psycopg.Connection:
    return psycopg.connect(
        host=str(socket_dir(pg.where)),
        port=pg.where.port,
        user="postgres",
        dbname=database,
        autocommit=True,
    )


def facts(pg: RunningComponent) -> dict[str, Any]:
    with connect(pg) as conn:
        return database_facts(conn)


def archive_now(pg: RunningComponent) -> None:
    """Switch WAL and wait until the finished segment is in the archive."""
    with connect(pg) as conn:
        row = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()
        conn.execute("SELECT pg_switch_wal()")
    assert row is not None
    archive = pg.where.data_dir.parent.parent / "backups" / "postgres" / "wal"
    segment = archive / row[0]
    wait_until(segment.exists, timeout=60)


def test_round_trip_through_a_wiped_data_directory(pg: RunningComponent) -> None:
    with connect(pg) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric)")
        conn.execute(
            "INSERT INTO items SELECT i, 'item ' || i, i * 1.5 FROM generate_series(1, 5000) i"
        )
    before = facts(pg)
    engine = make_engine(pg)
    record = engine.run_backup()
    assert record.state == "succeeded", record.reason
    manifest = engine.find(record.backup)
    assert manifest.store_version == pg.installation.version
    assert manifest.position["start_lsn"] and manifest.objects[0].name == "base.tar.zst"
    assert manifest.facts["databases"]["shop"]["public.items"][0] == 5000

    verified = engine.verify(record.backup)
    assert verified.state == "succeeded", verified.reason
    assert "match the manifest" in verified.reason

    pg.stop()
    shutil.rmtree(pg.where.data_dir / PGDATA)
    restored = engine.restore(manifest, None)
    assert restored.state == "succeeded", restored.reason
    pg.start()
    assert facts(pg) == before


def test_facts_match_the_restore_point_while_writers_commit(pg: RunningComponent) -> None:
    """Commits land all through the backup, also between the facts' snapshot and the
    restore point unless the driver keeps them apart: verify must still match exactly,
    and a point type (no extended hash) takes the text checksum."""
    with connect(pg) as conn:
        conn.execute("CREATE TABLE busy (id bigserial PRIMARY KEY, at point, note text)")
        conn.execute(
            "INSERT INTO busy (at, note) SELECT point(i, i), 'x' FROM generate_series(1, 20000) i"
        )
    stop = threading.Event()
    commits = 0

    def write() -> None:
        nonlocal commits
        with connect(pg) as conn:
            while not stop.is_set():
                conn.execute("INSERT INTO busy (at, note) VALUES (point(1, 2), 'during')")
                commits += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        engine = make_engine(pg)
        record = engine.run_backup()
    finally:
        stop.set()
        writer.join()
    assert record.state == "succeeded", record.reason
    assert commits > 0
    manifest = engine.find(record.backup)
    busy = manifest.facts["databases"]["shop"]["public.busy"]
    assert busy[0] >= 20000 and busy[2] == "text"
    assert manifest.facts["databases"]["shop"]["public.items"][2] == "record"
    verified = engine.verify(record.backup)
    assert verified.state == "succeeded", verified.reason


def test_a_corrupt_byte_fails_verify_naming_the_object(pg: RunningComponent) -> None:
    engine = make_engine(pg)
    record = engine.run_backup(mode="logical")
    assert record.state == "succeeded", record.reason
    manifest = engine.find(record.backup)
    name = next(o.name for o in manifest.objects if o.name.startswith("shop"))
    path = engine.storage.local_path(f"postgres/backups/{manifest.id}/{name}")
    assert path is not None
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    try:
        failed = engine.verify(manifest.id)
        assert failed.state == "failed"
        assert f"object {name} does not match its sha256" in failed.reason
    finally:
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    assert engine.verify(manifest.id).state == "succeeded"


def test_logical_backup_restores_a_dropped_table(pg: RunningComponent) -> None:
    engine = make_engine(pg)
    before = facts(pg)
    record = engine.run_backup(mode="logical")
    assert record.state == "succeeded", record.reason
    with connect(pg) as conn:
        conn.execute("DROP TABLE items")
    restored = engine.restore(engine.find(record.backup), None)
    assert restored.state == "succeeded", restored.reason
    assert facts(pg) == before


def test_point_in_time_gives_the_first_commit_not_the_second(pg: RunningComponent) -> None:
    engine = make_engine(pg)
    with connect(pg) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS events (name text)")
    assert engine.run_backup().state == "succeeded"
    with connect(pg) as conn:
        conn.execute("INSERT INTO events VALUES ('first')")
        time.sleep(1.0)
        between = datetime.now(UTC)
        time.sleep(1.0)
        conn.execute("INSERT INTO events VALUES ('second')")
    archive_now(pg)
    later = engine.run_backup()  # after 'second': the restore below branches before it
    assert later.state == "succeeded", later.reason

    manifest, lines = engine.plan_restore(None, between)
    assert any("replaces the whole data directory" in line for line in lines)
    pg.stop()
    record = engine.restore(manifest, between)
    assert record.state == "succeeded", record.reason
    pg.start()
    with connect(pg) as conn:
        rows = [r[0] for r in conn.execute("SELECT name FROM events").fetchall()]
        timeline = conn.execute("SELECT timeline_id FROM pg_control_checkpoint()").fetchone()
    assert rows == ["first"]
    # The new timeline's history reached the archive: a later restore can follow it.
    assert timeline is not None
    archive = pg.where.data_dir.parent.parent / "backups" / "postgres" / "wal"
    wait_until((archive / f"{timeline[0]:08X}.history").exists, timeout=60)
    # A backup of the old timeline, past the branch, still verifies on its own timeline.
    verified = engine.verify(later.backup)
    assert verified.state == "succeeded", verified.reason


def test_a_store_that_is_down_fails_with_the_reason(pg: RunningComponent) -> None:
    engine = make_engine(pg)
    count = len(engine.backups())
    pg.stop()
    try:
        record = engine.run_backup()
    finally:
        pg.start()
    assert record.state == "failed"
    assert "is not answering" in record.reason
    assert len(engine.backups()) == count


def test_kill_9_mid_run_is_failed_and_the_next_run_succeeds(
    pg: RunningComponent,
) -> None:
    with connect(pg) as conn:  # far more than the 3 MB after which the run is killed
        conn.execute("CREATE TABLE IF NOT EXISTS bulk (id int, pad text)")
        conn.execute(
            "INSERT INTO bulk SELECT i, md5(i::text) || repeat(md5((i * 7)::text), 8) "
            "FROM generate_series(1, 300000) i"
        )
    try:
        engine = make_engine(pg)
        killed = kill_9_mid_run(pg, engine, stop_after=3 << 20)
        assert_killed_run_is_failed_and_the_next_succeeds(engine, killed)
    finally:
        with connect(pg) as conn:
            conn.execute("DROP TABLE bulk")
