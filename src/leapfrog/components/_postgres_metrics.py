"""PostgreSQL's figures from its statistics views: per database (pg_stat_database), the
background writer and checkpointer (pg_stat_bgwriter), WAL (position, pg_stat_wal) and
replication (pg_stat_replication)."""

from __future__ import annotations

from leapfrog.components._postgres_setup import admin_connection
from leapfrog.components.base import Instance
from leapfrog.telemetry import Sample

__all__ = ["postgres_samples"]

_DATABASE_COLUMNS = (
    "numbackends", "xact_commit", "xact_rollback", "blks_read", "blks_hit", "tup_returned",
    "tup_fetched", "tup_inserted", "tup_updated", "tup_deleted", "conflicts", "temp_files",
    "temp_bytes", "deadlocks",
)  # fmt: skip
_COUNTERS = frozenset(_DATABASE_COLUMNS) - {"numbackends"}


async def postgres_samples(where: Instance) -> list[Sample]:
    samples: list[Sample] = []
    async with await admin_connection(where) as conn:
        columns = ", ".join(_DATABASE_COLUMNS)
        cursor = await conn.execute(
            f"SELECT datname, {columns} FROM pg_stat_database WHERE datname IS NOT NULL"
        )
        for row in await cursor.fetchall():
            for column, value in zip(_DATABASE_COLUMNS, row[1:], strict=True):
                if value is not None:
                    name = f"postgres_{column}" + ("_total" if column in _COUNTERS else "")
                    samples.append(Sample(name, float(value), {"database": row[0]}))
        cursor = await conn.execute("SELECT * FROM pg_stat_bgwriter")
        writer = await cursor.fetchone()
        names = [d.name for d in cursor.description or []]
        for name, value in zip(names, writer or (), strict=False):
            if isinstance(value, int | float):
                samples.append(Sample(f"postgres_bgwriter_{name}_total", float(value)))
        cursor = await conn.execute(
            "SELECT pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()"
            " ELSE pg_current_wal_lsn() END, '0/0'), pg_is_in_recovery()::int"
        )
        position = await cursor.fetchone()
        if position is not None and position[0] is not None:
            samples.append(Sample("postgres_wal_position_bytes", float(position[0])))
            samples.append(Sample("postgres_in_recovery", float(position[1])))
        cursor = await conn.execute(
            "SELECT count(*), coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0)"
            " FROM pg_stat_replication"
        )
        replication = await cursor.fetchone()
        if replication is not None:
            samples.append(Sample("postgres_replicas", float(replication[0])))
            samples.append(Sample("postgres_replication_lag_bytes", float(replication[1])))
        cursor = await conn.execute(
            "SELECT 1 FROM pg_catalog.pg_class WHERE relname = 'pg_stat_wal'"
        )
        if await cursor.fetchone() is not None:  # PostgreSQL 14 and later
            cursor = await conn.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal")
            wal = await cursor.fetchone()
            for name, value in zip(("records", "fpi", "bytes"), wal or (), strict=False):
                samples.append(Sample(f"postgres_wal_{name}_total", float(value)))
    return samples
