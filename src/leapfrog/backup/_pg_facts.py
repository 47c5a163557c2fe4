"""What a PostgreSQL cluster holds, per database and table: row count and a checksum
of the rows that does not depend on their order, the sum of a 48-bit hash of each row.

The hash is PostgreSQL's own `hash_record_extended` (each column through its type's
hash function, about six times faster than hashing the row's text); a table with a
column type that has no extended hash (`point`, `json`, ...) falls back to
`hashtextextended` of the row's text. Each table's entry says which one it used, so
verify computes the same (the same server binary computes both sides, so the hash
needs no portability). Entries of older manifests have no method: text.

Only permanent tables: temporary ones belong to other sessions and unlogged ones come
back empty from any physical backup.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg import sql

from leapfrog.backup.driver import BackupError

__all__ = [
    "RECORD",
    "TEXT",
    "ConsistentPoint",
    "database_facts",
    "databases",
    "diff_facts",
    "user_tables",
]

RECORD = "record"
TEXT = "text"

_TABLES = """
SELECT n.nspname, c.relname, c.relkind FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND c.relpersistence = 'p'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2
"""

_HASH = {
    RECORD: "hash_record_extended(t, 0)",
    TEXT: "hashtextextended(t::text, 0)",
}


def databases(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def user_tables(conn: psycopg.Connection) -> dict[str, bool]:
    """`schema.table` -> whether it is a plain table (lockable) rather than a matview."""
    return {f"{s}.{t}": kind == "r" for s, t, kind in conn.execute(_TABLES).fetchall()}


def _checksum(conn: psycopg.Connection, schema: str, table: str, method: str) -> tuple[int, str]:
    query = sql.SQL("SELECT count(*), coalesce(sum({} >> 16), 0)::text FROM {}.{} t").format(
        sql.SQL(_HASH[method]), sql.Identifier(schema), sql.Identifier(table)
    )
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def database_facts(
    conn: psycopg.Connection, methods: Mapping[str, Any] | None = None
) -> dict[str, list[Any]]:
    """`schema.table` -> [rows, checksum, method] in the connection's current snapshot.

    `methods`: the facts this must be comparable with (a manifest's): each table they
    name is hashed the way they say."""
    facts: dict[str, list[Any]] = {}
    for schema, table, _kind in conn.execute(_TABLES).fetchall():
        key = f"{schema}.{table}"
        known = (methods or {}).get(key)
        method = (known[2] if len(known) > 2 else TEXT) if known else RECORD
        try:
            # A savepoint inside a transaction: a failed attempt keeps the snapshot.
            with conn.transaction():
                rows, checksum = _checksum(conn, schema, table, method)
        except (psycopg.errors.UndefinedFunction, psycopg.errors.FeatureNotSupported):
            if method != RECORD or known:
                raise
            method = TEXT
            rows, checksum = _checksum(conn, schema, table, method)
        facts[key] = [rows, checksum, method]
    return facts


def diff_facts(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """Differences, one line each: missing databases or tables, counts, checksums."""
    lines = []
    for db in sorted(set(expected) | set(found)):
        want, got = expected.get(db), found.get(db)
        if want is None or got is None:
            lines.append(f"database {db} {'missing' if got is None else 'not in the backup'}")
            continue
        for table in sorted(set(want) | set(got)):
            a, b = want.get(table), got.get(table)
            if a is None or b is None:
                lines.append(f"{db}.{table} {'missing' if b is None else 'not in the backup'}")
            elif a[0] != b[0]:
                lines.append(f"{db}.{table} has {b[0]} rows, the backup had {a[0]}")
            elif a[1] != b[1]:
                lines.append(f"{db}.{table} rows differ (checksum)")
    return lines


class ConsistentPoint:
    """Snapshots of every database and a named restore point that describe exactly
    the same state, so a recovery to that point equals what the snapshots read.

    A snapshot and a WAL position agree only when no transaction that writes the
    tables commits between them. So, per database, a transaction takes SHARE locks on
    every permanent table (which waits for the writers in flight, whose commit records
    are then in the WAL and visible to the snapshot, and keeps new writers out), and
    exports its snapshot; with all of them held, the restore point is written, each
    snapshot is imported by a reader connection, and the locks go: writers wait for a
    few milliseconds, not for the scan. A table created meanwhile (not locked) makes it
    start again. The readers (`readers`: database -> connection in its snapshot) scan
    afterwards, at leisure, and are closed on exit.
    """

    def __init__(
        self,
        connect: Callable[[str], psycopg.Connection],
        lock_timeout: str = "30s",
        attempts: int = 3,
    ) -> None:
        self._connect = connect
        self._lock_timeout = lock_timeout
        self._attempts = attempts
        self.name = f"leapfrog-{secrets.token_hex(6)}"
        self.lsn = ""
        self.readers: list[tuple[str, psycopg.Connection]] = []
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> ConsistentPoint:
        try:
            with self._connect("postgres") as conn:
                names = databases(conn)
            for _ in range(self._attempts):
                if self._try(names):
                    return self
                self._stack.close()
                self.readers = []
        except BaseException:
            self._stack.close()
            raise
        raise BackupError(
            "tables kept being created while the backup fixed its consistent point",
            hint="run the backup again when the schema is not changing",
        )

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _try(self, names: list[str]) -> bool:
        locked: dict[str, set[str]] = {}
        with contextlib.ExitStack() as lockers:
            snapshots = {}
            for name in names:
                conn = lockers.enter_context(self._connect(name))
                tables = user_tables(conn)
                lockers.enter_context(conn.transaction())
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(self._lock_timeout))
                plain = [key for key, lockable in tables.items() if lockable]
                if plain:
                    targets = sql.SQL(", ").join(
                        sql.Identifier(*key.split(".", 1)) for key in plain
                    )
                    try:
                        conn.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(targets))
                    except psycopg.errors.LockNotAvailable as exc:
                        raise BackupError(
                            f"a transaction in {name} kept writing for over "
                            f"{self._lock_timeout}: the backup could not fix a consistent point",
                            hint="run the backup again (pg_stat_activity shows long transactions)",
                        ) from exc
                row = conn.execute("SELECT pg_export_snapshot()").fetchone()
                assert row is not None
                snapshots[name] = str(row[0])
                locked[name] = set(plain)
            with self._connect("postgres") as conn:
                row = conn.execute(
                    "SELECT pg_create_restore_point(%s)::text", [self.name]
                ).fetchone()
            assert row is not None
            self.lsn = str(row[0])
            for name, snapshot in snapshots.items():
                reader = self._stack.enter_context(self._connect(name))
                reader.autocommit = False
                reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                reader.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(snapshot))
                self.readers.append((name, reader))
        # The lockers committed: check that the snapshots hold no table left unlocked.
        for name, reader in self.readers:
            seen = {key for key, lockable in user_tables(reader).items() if lockable}
            if not seen <= locked[name]:
                return False
        return True
